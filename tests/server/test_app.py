"""The server as a client sees it: OpenAPI, auth, bad bodies, limits; never a 500 for bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conftest import fast_settings
from setpoint.client.local import LocalClient
from setpoint.client.remote import RemoteClient
from setpoint.core.config import Settings
from setpoint.core.errors import AuthenticationError, RunNotFoundError


@pytest.fixture
def local(sqlite_settings: Settings) -> Any:
    c = LocalClient(sqlite_settings).open()
    yield c
    c.close()


def test_openapi_lists_every_operation(local: LocalClient, serve: Any) -> None:
    from setpoint.api.operations import API_PREFIX, operations

    server = serve(local)
    spec = httpx.get(f"{server.url}{API_PREFIX}/openapi.json").json()
    published = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    for op, _ in operations():
        path = API_PREFIX + op.path.replace(":path", "")
        assert (op.method, path) in published
    body = spec["paths"][f"{API_PREFIX}/runs"]["post"]["requestBody"]["content"]["application/json"]
    assert "project" in body["schema"]["properties"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 422, "body"),
        (b"[1, 2]", 422, "body"),
        (b'{"name": "x"}', 422, "project"),
        (b'{"project": "p", "surprise": 1}', 422, "surprise"),
        (b'{"project": 12}', 422, "project"),
        (b'{"project": "bad name!"}', 422, "project"),
    ],
)
def test_bad_bodies_get_4xx_naming_the_field(
    local: LocalClient, serve: Any, body: bytes, status: int, field: str
) -> None:
    server = serve(local)
    r = httpx.post(
        f"{server.url}/api/v1/runs", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == status
    assert r.json()["error"]["field"] == field


def test_oversized_bodies_get_413(local: LocalClient, serve: Any) -> None:
    server = serve(local, max_json_body=1000, max_upload=2000)
    r = httpx.post(f"{server.url}/api/v1/runs", content=b"{" + b" " * 5000 + b"}")
    assert r.status_code == 413
    run = RemoteClient(server.url).create_run("p")

    def chunks() -> Any:  # no Content-Length: the limit must hold while streaming
        for _ in range(10):
            yield b"x" * 500

    r = httpx.put(f"{server.url}/api/v1/runs/{run.id}/artifacts/big.bin", content=chunks())
    assert r.status_code == 413
    assert local.list_artifacts(run.id) == []


def test_artifact_paths_that_clash_or_name_a_folder(local: LocalClient, serve: Any) -> None:
    server = serve(local)
    run = RemoteClient(server.url).create_run("p")
    url = f"{server.url}/api/v1/runs/{run.id}/artifacts"
    assert httpx.put(f"{url}/cfg", content=b"A").status_code == 200
    r = httpx.put(f"{url}/cfg/x.json", content=b"B")
    assert r.status_code == 409 and r.json()["error"]["field"] == "path"
    assert httpx.get(f"{url}/cfg").content == b"A"
    assert httpx.put(f"{url}/only/one.txt", content=b"C").status_code == 200
    r = httpx.get(f"{url}/only")  # a folder, though it holds one file
    assert r.status_code == 422 and "folder" in r.json()["error"]["message"]
    assert httpx.get(f"{url}/only/one.txt").content == b"C"


def test_bad_metric_batches_and_unknown_things(local: LocalClient, serve: Any) -> None:
    server = serve(local)
    run = RemoteClient(server.url).create_run("p")
    url = f"{server.url}/api/v1/runs/{run.id}/metrics"
    r = httpx.post(url, json={"keys": ["a"], "values": ["abc"], "steps": [0]})
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("values")
    r = httpx.post(url, json={"keys": ["a", "b"], "values": [1.0], "steps": [0]})
    assert r.status_code == 422
    r = httpx.post(url, json={"keys": ["a"], "values": [True], "steps": [0]})
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("values")
    r = httpx.post(url, json={"keys": ["a"], "values": [1.0], "steps": [2**63]})
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("steps")
    r = httpx.get(f"{server.url}/api/v1/audit", params={"after_seq": str(2**63)})
    assert r.status_code == 422 and r.json()["error"]["field"] == "after_seq"
    assert httpx.get(f"{server.url}/api/v1/audit", params={"after_seq": "1"}).status_code == 200
    # in a JSON body, a whole number is a number and a flag a boolean: not "1", true, "yes"
    r = httpx.post(url, json={"keys": ["a"], "values": [1.0], "steps": ["1"]})
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("steps")
    r = httpx.post(url, json={"keys": ["a"], "values": [1.0], "steps": [True]})
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("steps")
    r = httpx.post(f"{server.url}/api/v1/runs", json={"project": "p", "heartbeats": "yes"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "heartbeats"
    r = httpx.get(f"{server.url}/api/v1/models/m/versions/%C2%B2", params={"project": "p"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "version"  # "²" is no number
    assert RemoteClient(server.url).get_run(run.id).metrics == {}
    assert httpx.get(f"{server.url}/api/v1/runs/{'0' * 32}").status_code == 404
    r = httpx.get(f"{server.url}/api/v1/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = httpx.delete(f"{server.url}/api/v1/runs/search")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    r = httpx.post(f"{server.url}/api/v1/runs/search", json={"filter": "metrics.a >"})
    assert r.status_code == 422 and "position" in r.json()["error"]["message"]
    with pytest.raises(RunNotFoundError):
        RemoteClient(server.url).get_run("0" * 32)


def test_tokens_are_required_once_one_exists(local: LocalClient, serve: Any) -> None:
    secret = local.tokens.create("alice")
    server = serve(local, require_token=True)
    assert httpx.get(f"{server.url}/api/v1/health").status_code == 200
    r = httpx.get(f"{server.url}/api/v1/projects")
    assert r.status_code == 401
    with pytest.raises(AuthenticationError):
        RemoteClient(server.url, "spt_wrong").list_projects()
    good = RemoteClient(server.url, secret)
    good.create_project("team")
    assert [p.name for p in good.list_projects()] == ["team"]
    local.tokens.revoke("alice")
    server2 = serve(local, require_token=True)  # a fresh server: no cached verdicts
    with pytest.raises(AuthenticationError):
        RemoteClient(server2.url, secret).list_projects()


def test_loopback_detection() -> None:
    from setpoint.core.same_site import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    from setpoint.core.same_site import host_name, refusal

    assert [host_name(h) for h in ("LocalHost:8000", "[::1]:80", "127.0.0.2", "::1")] == [
        "localhost",
        "::1",
        "127.0.0.2",
        "::1",
    ]
    assert refusal("POST", "LOCALHOST:8000", None) is None
    assert refusal("GET", "evil.example:8000", None) is not None
    assert refusal("POST", "127.0.0.1:8000", "http://127.0.0.1:8000") is None
    assert refusal("POST", "127.0.0.1:8000", "http://evil.example") is not None
    assert refusal("GET", "127.0.0.1:8000", "http://evil.example") is None  # it cannot read


def test_without_tokens_pages_of_other_sites_cannot_write_or_read(
    local: LocalClient, serve: Any
) -> None:
    """A tokenless server is reached by this machine's browser too: any site could POST to
    it (a no-cors fetch needs no permission) and, with its name pointed at 127.0.0.1, read it."""
    local.create_project("keep")
    server = serve(local)
    port = server.url.rsplit(":", 1)[1]
    evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    writes = [
        ("/api/v1/projects/keep/delete", b"{}"),
        ("/api/v1/projects", b'{"name": "planted"}'),
        ("/api/2.0/mlflow/experiments/create", b'{"name": "planted"}'),
    ]
    for path, body in writes:
        r = httpx.post(server.url + path, content=body, headers=evil)
        assert r.status_code == 403, (path, r.text)
        if path.startswith("/api/2.0/mlflow"):  # in the shape MLflow's clients read
            assert r.json()["error_code"] == "PERMISSION_DENIED"
            assert "pages of another site" in r.json()["message"]
            continue
        assert r.json()["error"]["field"] == "origin"
        assert "pages of another site" in r.json()["error"]["message"]
    r = httpx.post(
        server.url + "/api/v1/projects/keep/delete", content=b"{}", headers={"Origin": "null"}
    )
    assert r.status_code == 403
    rebound = httpx.get(
        server.url + "/api/v1/projects", headers={"Host": f"rebind.evil.example:{port}"}
    )
    assert rebound.status_code == 403 and "loopback names only" in rebound.text
    assert [p.name for p in local.list_projects()] == ["keep"]  # nothing was written
    # programs send no Origin; the server's own pages send their own
    own = {"Origin": server.url, "Content-Type": "application/json"}
    r = httpx.post(server.url + "/api/v1/projects", content=b'{"name": "mine"}', headers=own)
    assert r.status_code == 200, r.text
    assert [p.name for p in RemoteClient(server.url).list_projects()] == ["keep", "mine"]
    # with tokens, a request needs one, and a page cannot give it: no Origin check needed
    local.tokens.create("ci")
    tokened = serve(local, require_token=True)
    r = httpx.get(tokened.url + "/api/v1/projects", headers={"Host": "setpoint.internal"})
    assert r.status_code == 401


def test_a_flush_larger_than_the_body_limit_is_split(
    local: LocalClient, serve: Any, monkeypatch: pytest.MonkeyPatch, sqlite_settings: Settings
) -> None:
    from dataclasses import replace

    import setpoint as sp
    from setpoint.client import run as run_module
    from setpoint.client import sdk

    monkeypatch.setattr(run_module, "MAX_POINTS_PER_REQUEST", 200)
    server = serve(local, max_json_body=20_000)
    sdk.use(RemoteClient(server.url).open(), replace(sqlite_settings, server_url=server.url))
    try:
        with sp.start_run(project="p") as run:
            for i in range(2000):
                run.log_metric("x", float(i), step=i)
    finally:
        sdk.use(None)
    assert local.get_metric_history(run.id, "x").steps == list(range(2000))


def test_with_tokens_the_server_says_who_created_a_dataset(local: LocalClient, serve: Any) -> None:
    import io

    import pandas as pd

    secret = local.tokens.create("alice")
    remote = RemoteClient(serve(local, require_token=True).url, secret)
    buf = io.BytesIO()
    pd.DataFrame({"a": [1, 2]}).to_parquet(buf, index=False)
    buf.seek(0)
    ref = remote.upload_blob(buf)
    v = remote.create_dataset_version("d", ref.digest, creator="mallory")
    assert v.creator == "alice"


def test_dataset_routes_check_their_path_and_results(local: LocalClient, serve: Any) -> None:
    import io

    import pandas as pd

    from setpoint.client.datasets import log_dataset

    server = serve(local)
    remote = RemoteClient(server.url)
    log_dataset(remote, pd.DataFrame({"a": [1, 2]}), "d", "p", "", None, str(local.settings.home))
    base = f"{server.url}/api/v1/datasets/d/versions"
    for bad in ("abc", "99999999999", "0"):
        r = httpx.get(f"{base}/{bad}/files", params={"project": "p"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "version", bad
    good = {"suite": "s", "suite_digest": "ab" * 32, "project": "p"}
    check = {"check": "not_null", "severity": "error", "passed": True}
    r = httpx.post(
        f"{base}/1/validations", json={**good, "checks": [check], "environment": "x" * 200}
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "environment"
    for broken in ({**check, "passed": "no"}, {**check, "severity": "fatal"}, {"passed": True}):
        r = httpx.post(f"{base}/1/validations", json={**good, "checks": [broken]})
        assert r.status_code == 422 and r.json()["error"]["field"] == "checks", broken
    assert remote.list_validations("d", 1, "p") == []
    record = remote.record_validation("d", 1, "s", "ab" * 32, [check], "p")
    assert record.passed and [r.id for r in remote.list_validations("d", 1, "p")] == [record.id]
    assert remote.has_blob("cd" * 32) is False
    assert remote.has_blob(remote.upload_blob(io.BytesIO(b"x")).digest) is True


def test_after_an_internal_error_the_connection_still_answers(
    local: LocalClient, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error was answered 500 and then raised on to the server, which dropped
    the connection: the client's next request on it failed with a reset."""

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    server = serve(local)
    monkeypatch.setattr(local.runs, "get_run", broken)
    with httpx.Client(base_url=server.url) as http:
        r = http.get("/api/v1/runs/0123456789abcdef0123456789abcdef")
        assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
        assert "a bug" not in r.text
        for _ in range(3):  # the same kept-alive connection
            assert http.get("/api/v1/health").status_code == 200


def test_the_server_describes_its_database_without_the_password(tmp_path: Any) -> None:
    """`setpoint server` printed the database URL it was given, password and all."""
    url = "postgresql://setpoint:s3cr%40t@db.internal:5432/setpoint"
    shown = LocalClient(fast_settings(tmp_path / "home", database_url=url)).describe()
    assert "setpoint:***@db.internal:5432/setpoint" in shown and "s3cr" not in shown
    plain = fast_settings(tmp_path / "home")
    assert plain.database_url in LocalClient(plain).describe()  # nothing to hide: as given
