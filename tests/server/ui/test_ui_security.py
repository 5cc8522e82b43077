"""The UI's guards: artifacts are never pages of the server, forms and sign-in only from
the server's own pages, loopback names only without tokens, bad numbers are 4xx."""

from __future__ import annotations

import io

import httpx

from ui_support import PROJECT, UiServer, form_token, sign_in


def _run_with_files(ui: UiServer) -> str:
    run = ui.local.runs.create_run(PROJECT, name="files")
    for path, body in {
        "page.html": b"<script>alert(1)</script>",
        "tool.js": b"alert(1)",
        "plot.png": b"\x89PNG\r\n\x1a\n",
        "dir/a.txt": b"a",
        "dir/b.txt": b"b",
    }.items():
        ui.local.artifacts.log_stream(run.id, path, io.BytesIO(body))
    ui.local.runs.end_run(run.id)
    return run.id


def test_artifacts_are_downloads_and_images_never_pages(ui: UiServer) -> None:
    run_id = _run_with_files(ui)
    for name in ("page.html", "tool.js"):
        r = ui.get(f"/runs/{run_id}/files/{name}")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["content-disposition"].startswith("attachment")
        assert r.headers["content-security-policy"].startswith("sandbox")
    image = ui.get(f"/runs/{run_id}/files/plot.png")
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline")
    assert "sandbox" in image.headers["content-security-policy"]


def test_a_folder_or_a_missing_file_is_not_found(ui: UiServer) -> None:
    run_id = _run_with_files(ui)
    assert ui.get(f"/runs/{run_id}/files/dir").status_code == 404
    assert ui.get(f"/runs/{run_id}/files/nothing.txt").status_code == 404
    assert ui.get(f"/runs/{run_id}/files/dir/a.txt").content == b"a"


def test_numbers_that_are_not_plain_digits_are_refused_not_crashes(ui: UiServer) -> None:
    for path in (
        "/runs?page=%C2%B2",
        "/runs?page=" + "9" * 5000,
        "/audit?before=%C2%B2",
        "/models/quickstart/quickstart-model/%C2%B2",
        "/datasets/quickstart/transactions/%C2%B2",
        "/datasets/quickstart/transactions/99999999999999999999",
        "/deployments/quickstart/fraud-detector?days=%C2%B2",
    ):
        r = ui.get(path)
        assert 400 <= r.status_code < 500, (path, r.status_code)


def test_sorting_by_a_key_with_a_slash(ui: UiServer) -> None:
    run = ui.local.runs.create_run(PROJECT, name="slashed")
    ui.local.runs.log_metrics(run.id, ["val/loss"], [0.5], [0])
    ui.local.runs.end_run(run.id)
    table = ui.get("/runs", params={"project": PROJECT, "col": "metrics.val/loss"})
    assert "metrics.%60val/loss%60+DESC" in table.text or "metrics.%60val%2Floss%60" in table.text
    r = ui.get("/runs", params={"project": PROJECT, "order": "metrics.`val/loss` DESC"})
    assert r.status_code == 200 and 'aria-sort="descending"' in r.text


def test_forms_and_sign_in_from_another_site_are_refused(
    ui_roles: tuple[UiServer, dict[str, str]],
) -> None:
    server, secrets = ui_roles
    evil = {"origin": "http://evil.example"}
    r = httpx.post(
        f"{server.url}/login", data={"token": secrets["viewer"], "next": "/"}, headers=evil
    )
    assert r.status_code == 403 and "setpoint_session" not in r.headers.get("set-cookie", "")
    http = sign_in(server, secrets["editor"])
    page = http.get(f"/models/{PROJECT}/quickstart-model/2")
    token = form_token(page.text)
    before = server.local.registry.resolve(PROJECT, "quickstart-model", "champion").version
    r = http.post(
        f"/models/{PROJECT}/quickstart-model/2/promote",
        data={"form_token": token, "alias": "champion", "reason": ""},
        headers=evil,
    )
    assert r.status_code == 403
    assert server.local.registry.resolve(PROJECT, "quickstart-model", "champion").version == before
    assert http.post("/logout", headers=evil).status_code == 403
    assert http.get("/runs").status_code == 200  # still signed in
    http.close()


def test_without_tokens_only_loopback_names_are_answered(ui: UiServer) -> None:
    # a page of another site whose name resolves to 127.0.0.1 (DNS rebinding)
    r = ui.get("/runs", headers={"host": "evil.example:80"})
    assert r.status_code == 403
    assert ui.get("/runs", headers={"host": "localhost:8000"}).status_code == 200
