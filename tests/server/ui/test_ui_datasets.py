"""The datasets pages over HTTP: the list, a dataset's versions, a version's profile and
validations, the diff of two versions, and who may see them."""

from __future__ import annotations

import re
from pathlib import Path

from setpoint.client.datasets import VersionHandle, log_dataset
from setpoint.server.ui.templating import num
from ui_support import PROJECT, UiServer, sign_in


def _shifted_version(ui: UiServer, tmp_path: Path) -> VersionHandle:
    """incoming@2: incoming@1 with feature x1 moved by +3 and its last 200 rows dropped."""
    v1 = VersionHandle(ui.local.get_dataset_version("incoming", PROJECT, 1), ui.local)
    frame = v1.to_pandas().iloc[:-200].reset_index(drop=True)
    frame["x1"] = frame["x1"] + 3.0
    return log_dataset(
        ui.local, frame, "incoming", PROJECT, "x1 shifted", [v1.ref], str(tmp_path / "cache")
    )


def test_the_list_links_every_dataset_of_the_project(ui: UiServer) -> None:
    r = ui.get("/datasets", params={"project": PROJECT})
    assert r.status_code == 200
    for d in ui.local.list_datasets(PROJECT):
        assert f'href="/datasets/{PROJECT}/{d.name}"' in r.text
        assert f'href="/datasets/{PROJECT}/{d.name}/{d.latest_version}"' in r.text
    assert ui.get("/datasets", params={"project": "no-such-project"}).status_code == 404


def test_the_versions_page_lists_versions_with_their_validation(
    ui: UiServer, tmp_path: Path
) -> None:
    v2 = _shifted_version(ui, tmp_path)
    r = ui.get(f"/datasets/{PROJECT}/incoming")
    assert r.status_code == 200
    table = r.text.split('id="versions"', 1)[1].split("</table>", 1)[0]
    rows = table.split("<tr>")[2:]  # after the header row
    assert [re.search(r">v(\d+)</a>", row).group(1) for row in rows] == ["2", "1"]  # type: ignore[union-attr]
    newest, oldest = rows
    assert v2.digest[:12] in newest and "x1 shifted" in newest
    assert f'href="/datasets/{PROJECT}/incoming/1"' in newest  # its parent, as a link
    assert "not validated" in newest
    assert "status-failed" in oldest  # the quickstart's suite stopped the bad batch
    assert 'name="a"' in r.text and 'name="b"' in r.text


def test_a_version_shows_a_histogram_per_numeric_column_and_its_failed_checks(
    ui: UiServer,
) -> None:
    r = ui.get(f"/datasets/{PROJECT}/incoming/1")
    assert r.status_code == 200
    v = VersionHandle(ui.local.get_dataset_version("incoming", PROJECT, 1), ui.local)
    assert v.profile is not None
    numeric = [c["name"] for c in v.profile["columns"] if c["kind"] == "numeric"]
    histograms = re.findall(r'<svg class="bars"[^>]*aria-label="Histogram of ([^:"]+):', r.text)
    assert histograms == numeric
    assert 'aria-label="Most frequent values of segment"' in r.text
    # the failing checks, with what was observed and example rows
    failed = r.text.split("Failed checks", 1)[1].split("</table>", 1)[0]
    record = ui.local.list_validations("incoming", 1, PROJECT)[-1]
    bad = [c for c in record.checks if not c["passed"]]
    # the unit change in x0 also moves its distribution past the inferred warn-level shift
    assert {c["check"] for c in bad} == {"range", "not_null", "in_set", "shift"}
    for c in bad:
        assert f"<td>{c['check']}</td>" in failed
        rows = num(c["failing"]) if c.get("failing") is not None else "—"  # shift: no rows
        assert f'<td class="num">{rows}</td>' in failed
    x0 = next(c for c in bad if c["column"] == "x0")
    assert num(x0["sample"][0]["value"]) in failed  # the value ×100 of a unit change
    assert "row 200 = " in failed and "unknown" in failed


def test_the_diff_shows_shifted_statistics_and_the_drifted_column(
    ui: UiServer, tmp_path: Path
) -> None:
    _shifted_version(ui, tmp_path)
    r = ui.get(f"/datasets/{PROJECT}/incoming/diff", params={"a": "1", "b": "2"})
    assert r.status_code == 200
    assert "3,200 → 3,000 (-200" in r.text
    profiles = [
        VersionHandle(ui.local.get_dataset_version("incoming", PROJECT, n), ui.local).profile
        for n in (1, 2)
    ]
    mean = [next(c["mean"] for c in p["columns"] if c["name"] == "x1") for p in profiles]  # type: ignore[index]
    table = r.text.split('id="drift-table"', 1)[1].split("</table>", 1)[0]
    x1 = next(row for row in table.split("<tr") if ">x1</a>" in row)
    assert f"{num(mean[0])} → {num(mean[1])}" in x1
    assert 'class="differs"' in x1 and "status-drifted" in x1
    x2 = next(row for row in table.split("<tr") if ">x2</a>" in row)
    assert "status-drifted" not in x2


def test_unknown_datasets_and_versions_are_404_pages(ui: UiServer) -> None:
    for path in (
        f"/datasets/{PROJECT}/no-such-data",
        f"/datasets/{PROJECT}/incoming/99",
        f"/datasets/{PROJECT}/incoming/latest",
        f"/datasets/{PROJECT}/no-such-data/diff",
    ):
        r = ui.get(path)
        assert r.status_code == 404, path
        assert "<h1>Not found</h1>" in r.text, path


def test_a_viewer_sees_the_pages_and_a_user_without_a_role_does_not(
    ui_roles: tuple[UiServer, dict[str, str]],
) -> None:
    server, secrets = ui_roles
    viewer = sign_in(server, secrets["viewer"])
    page = viewer.get(f"/datasets/{PROJECT}/incoming/1")
    assert page.status_code == 200
    assert 'aria-label="Histogram of x0' in page.text  # the profile blob is readable too
    assert viewer.get(f"/datasets/{PROJECT}/incoming").status_code == 200
    assert 'href="/datasets/quickstart/incoming"' in viewer.get("/datasets").text

    server.local.users.create("outsider")
    outsider = sign_in(server, server.local.tokens.create("outsider-browser", "outsider"))
    for path in (f"/datasets/{PROJECT}/incoming", f"/datasets/{PROJECT}/incoming/1"):
        assert outsider.get(path).status_code == 403, path
    listing = outsider.get("/datasets")
    assert listing.status_code == 200
    assert "incoming" not in listing.text
    assert "hidden" in listing.text
    assert outsider.get("/datasets", params={"project": PROJECT}).status_code == 403
