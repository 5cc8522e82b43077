"""The deployments and monitors pages over HTTP: traffic split, rate and latency series,
drift per feature, alerts with their actions, and resolving an alert."""

from __future__ import annotations

import html
import re
from collections import Counter
from typing import Any

import pytest

from setpoint.client.serving import read_log
from ui_support import PROJECT, UiServer, form_token, sign_in

DEPLOYMENT = "fraud-detector"
MONITOR = "fraud-live"


def _split(page: str) -> dict[tuple[int, str], int]:
    """The traffic split table of a deployment page: (version, role) -> rows."""
    section = page.split('id="split"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(
        r'>v(\d+)(?:</a>)?</td>\s*<td>(\w+)</td>\s*<td class="num">([\d,]+)</td>', section
    )
    return {(int(v), role): int(n.replace(",", "")) for v, role, n in rows}


def _alert(ui: UiServer, rule: str) -> Any:
    return next(a for a in ui.local.list_alerts(PROJECT, MONITOR, None, 100) if a.rule == rule)


def test_the_index_lists_deployments_and_monitors_with_alerts(ui: UiServer) -> None:
    r = ui.get("/deployments", params={"project": PROJECT})
    assert r.status_code == 200
    assert f'href="/deployments/{PROJECT}/{DEPLOYMENT}"' in r.text
    assert f'href="/deployments/{PROJECT}/quickstart-model"' in r.text
    assert f'href="/monitors/{PROJECT}/{MONITOR}"' in r.text
    open_alerts = ui.local.list_alerts(PROJECT, MONITOR, None, 100, "open")
    assert open_alerts, "the quickstart leaves the drift alert open"
    assert f'<span class="status status-open">{len(open_alerts)}</span>' in r.text
    assert ui.get("/deployments", params={"project": "no-such-project"}).status_code == 404


def test_the_deployment_page_splits_traffic_by_served_version(ui: UiServer) -> None:
    log = read_log(ui.local, DEPLOYMENT, PROJECT, None, None, False)
    expected = Counter(zip(log["model_version"].astype(int), log["role"], strict=True))
    assert len({v for v, _ in expected}) >= 2, "the quickstart retrains and serves v2"
    r = ui.get(f"/deployments/{PROJECT}/{DEPLOYMENT}")
    assert r.status_code == 200
    assert _split(r.text) == dict(expected)
    for version, _ in expected:
        assert f'href="/models/{PROJECT}/{DEPLOYMENT}/{version}"' in r.text
    assert f'href="/monitors/{PROJECT}/{MONITOR}"' in r.text  # the monitor watching it


def test_rate_and_latency_series_come_from_the_prediction_log(ui: UiServer) -> None:
    log = read_log(ui.local, DEPLOYMENT, PROJECT, None, None, False)
    args = {"project": PROJECT, "name": DEPLOYMENT, "width": "600"}
    rate = ui.get("/ui/data/deployment", params={**args, "what": "rate"}).json()
    series = {s["name"]: s for s in rate["series"]}
    # every answered request counted once, in some time bucket
    assert sum(series["requests"]["y"]) == log["request_id"].nunique()
    assert sum(series.get("rows", series["requests"])["y"]) == len(log)
    assert {"v1 requests", "v2 requests"} <= set(series)
    latency = ui.get("/ui/data/deployment", params={**args, "what": "latency"}).json()
    p50, p95 = ({s["name"]: s["y"] for s in latency["series"]}[k] for k in ("p50", "p95"))
    pairs = [(a, b) for a, b in zip(p50, p95, strict=True) if a is not None]
    assert pairs and all(0 < a <= b for a, b in pairs)
    page = ui.get(f"/deployments/{PROJECT}/{DEPLOYMENT}").text
    assert "/ui/data/deployment?project=quickstart&amp;name=fraud-detector&amp;what=rate" in page
    bad = ui.get("/ui/data/deployment", params={**args, "what": "everything"})
    assert bad.status_code == 422 and "error" in bad.json()


def test_the_monitor_page_shows_drift_per_feature_and_the_alerts(ui: UiServer) -> None:
    windows = ui.local.list_monitor_windows(MONITOR, PROJECT)
    features = set(windows[-1].result["drift"]["features"])
    drift = ui.get(
        "/ui/data/monitor", params={"project": PROJECT, "name": MONITOR, "what": "drift"}
    ).json()
    assert {s["name"] for s in drift["series"]} == features
    for s in drift["series"]:
        assert s["x"] == [float(i) for i in range(1, len(windows) + 1)]
        assert s["y"][-1] == pytest.approx(
            windows[-1].result["drift"]["features"][s["name"]]["statistic"]
        )
    metrics = ui.get(
        "/ui/data/monitor", params={"project": PROJECT, "name": MONITOR, "what": "metrics"}
    ).json()
    assert "accuracy" in {s["name"] for s in metrics["series"]}

    r = ui.get(f"/monitors/{PROJECT}/{MONITOR}")
    assert r.status_code == 200
    text = html.unescape(r.text)
    for rule in ("drift", "metric:accuracy"):
        a = _alert(ui, rule)
        row = text.split(f'id="alert-{a.id}"', 1)[1].split("</tr>", 1)[0]
        assert rule in row and a.message in row
        assert f"status-{a.status}" in row
    # the retraining the accuracy alert set off, with its run
    accuracy = _alert(ui, "metric:accuracy")
    row = text.split(f'id="alert-{accuracy.id}"', 1)[1].split("</tr>", 1)[0]
    assert "ran schedule retrain-on-alert" in row and 'href="/runs/' in row
    assert 'href="/datasets/quickstart/transactions/1"' in text  # the reference


def test_an_editor_resolves_an_alert(ui_roles: tuple[UiServer, dict[str, str]]) -> None:
    ui, secrets = ui_roles
    alert = _alert(ui, "drift")
    assert alert.status == "open"
    http = sign_in(ui, secrets["editor"])
    page = http.get(f"/monitors/{PROJECT}/{MONITOR}")
    action = f"/monitors/{PROJECT}/{MONITOR}/alerts/{alert.id}/resolve"
    assert f'action="{action}"' in page.text
    r = http.post(action, data={"form_token": form_token(page.text)})
    assert r.status_code == 303
    after = http.get(r.headers["location"])
    row = after.text.split(f'id="alert-{alert.id}"', 1)[1].split("</tr>", 1)[0]
    assert "status-resolved" in row and f'action="{action}"' not in after.text
    assert f"Alert {alert.id} resolved." in after.text
    assert _alert(ui, "drift").status == "resolved"
    events = ui.local.list_audit_events(PROJECT, "alert", None, "alert.resolve", 0, 100)
    assert [e.actor for e in events][-1] == "editor"
    for odd in ("%C2%B2", "9" * 30):  # not a plain number: no such alert, not a crash
        r = http.post(
            f"/monitors/{PROJECT}/{MONITOR}/alerts/{odd}/resolve",
            data={"form_token": form_token(page.text)},
        )
        assert r.status_code == 404, (odd, r.status_code)


def test_a_viewer_sees_no_resolve_form_and_is_refused(
    ui_roles: tuple[UiServer, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from setpoint.server.ui.context import Page

    # The viewer's page carries no form, so no form token: fix the token for the session so
    # the refusal tested is the role check, not the form check.
    monkeypatch.setattr(Page, "form_token", lambda self: "ab" * 32)
    ui, secrets = ui_roles
    alert = _alert(ui, "drift")
    http = sign_in(ui, secrets["viewer"])
    page = http.get(f"/monitors/{PROJECT}/{MONITOR}")
    assert page.status_code == 200
    assert "/resolve" not in page.text and alert.message in html.unescape(page.text)
    r = http.post(
        f"/monitors/{PROJECT}/{MONITOR}/alerts/{alert.id}/resolve", data={"form_token": "ab" * 32}
    )
    assert r.status_code == 403
    assert "viewer needs the editor role" in html.unescape(r.text)
    assert _alert(ui, "drift").status == "open"


def test_unknown_deployments_monitors_and_alerts_are_not_found(ui: UiServer) -> None:
    assert ui.get(f"/deployments/{PROJECT}/no-such-deployment").status_code == 404
    assert ui.get(f"/monitors/{PROJECT}/no-such-monitor").status_code == 404
    for route in ("monitor", "deployment"):
        r = ui.get(
            f"/ui/data/{route}",
            params={
                "project": PROJECT,
                "name": "nope",
                "what": "drift" if route == "monitor" else "rate",
            },
        )
        assert r.status_code == 404 and "error" in r.json()
    token = form_token(ui.get(f"/monitors/{PROJECT}/{MONITOR}").text)
    for alert_id in ("999", "x"):
        r = ui.post(
            f"/monitors/{PROJECT}/{MONITOR}/alerts/{alert_id}/resolve", data={"form_token": token}
        )
        assert r.status_code == 404


def test_a_monitored_deployment_without_traffic_shows_empty_states(ui: UiServer) -> None:
    ui.local.add_monitor(
        "idle-watch", "idle", f"{PROJECT}/transactions@1", {"window_seconds": 3600}, PROJECT
    )
    r = ui.get(f"/deployments/{PROJECT}/idle")
    assert r.status_code == 200
    assert "Nothing logged yet" in r.text and "No predictions in these days." in r.text
    rate = ui.get(
        "/ui/data/deployment", params={"project": PROJECT, "name": "idle", "what": "rate"}
    ).json()
    assert rate["series"] == []
    m = ui.get(f"/monitors/{PROJECT}/idle-watch")
    assert m.status_code == 200 and "No window computed yet" in m.text
    assert f'href="/deployments/{PROJECT}/idle"' in ui.get("/deployments").text


@pytest.mark.parametrize(
    "columns",
    [
        {"time": [{"a": 1}, {"a": 2}]},  # a struct where the time goes
        {"time": [1, 2], "model_version": [{"v": 1}, {"v": 2}]},
        {"time": [1, 2], "model_version": [[1], [2]]},
    ],
    ids=["time-struct", "version-struct", "version-list"],
)
def test_a_log_file_arrow_cannot_cast_is_counted_unreadable(
    ui: UiServer, tmp_path: Any, columns: dict[str, Any]
) -> None:
    """A log file whose columns are of a type Arrow cannot cast to numbers answered 500 on
    the deployment, traffic and lineage pages."""
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "odd.parquet"
    pq.write_table(pa.table(columns), path)
    ref = ui.local.upload_file(path)
    now = int(time.time() * 1000)
    day = time.strftime("%Y-%m-%d", time.gmtime(now / 1000))
    ui.local.record_prediction_log("odd", "predictions", day, ref.digest, 2, now, now, PROJECT)
    page = ui.get(f"/deployments/{PROJECT}/odd")
    assert page.status_code == 200
    assert "1 log file(s) could not be read as Parquet." in html.unescape(page.text)
    rate = ui.get("/ui/data/deployment", params={"project": PROJECT, "name": "odd", "what": "rate"})
    assert rate.status_code == 200
    lineage = ui.get("/lineage", params={"kind": "deployment", "id": f"{PROJECT}/odd"})
    assert lineage.status_code == 200


def test_a_monitor_page_reads_ceilings_and_error_decay_the_right_way_round(ui: UiServer) -> None:
    config = {
        "window_seconds": 3600,
        "metric_rules": [{"metric": "rmse", "max": 5}],
        "decay_rules": [{"metric": "mae", "max_drop": 0.5}],
    }
    ui.local.add_monitor("ceiling", "idle", f"{PROJECT}/transactions@1", config, PROJECT)
    page = ui.get(f"/monitors/{PROJECT}/ceiling")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "rmse above 5 for 1 window(s)" in text
    assert "mae more than 0.5 above the served version's evaluation" in text
