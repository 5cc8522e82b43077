"""Monitors over a deployment's prediction log: windows computed once (again on late labels),
drift, performance and fairness per window, alerts raised once and resolved, webhooks retried,
and the whole loop: traffic → drift → alert → retrain → gate → promote → served version."""

from __future__ import annotations

import http.server
import json
import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import setpoint as sp
from setpoint.core.errors import InvalidArgumentError
from setpoint.serving.predlog import Entry, Feedback, PredictionLog

HOUR = 3_600_000
T0 = 1_795_000_000_000 - 1_795_000_000_000 % HOUR  # an hour boundary


class Threshold:
    """The deployed model: a fixed rule on x1 (it does not adapt to drift)."""

    def __init__(self, cut: float) -> None:
        self.cut = cut

    def predict(self, frame: Any) -> Any:
        return (frame["x1"].to_numpy() > self.cut).astype(np.int64)


def _rows(n: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(shift, 1, n)
    region = rng.choice(["north", "south"], n)
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": rng.normal(0, 1, n),
            "region": region,
            "label": (x1 > shift).astype(np.int64),
        }
    )


def _log(c: Any, deployment: str, project: str) -> PredictionLog:
    import io

    def sink(
        kind: str, day: str, data: bytes, rows: int, first: int, last: int, dropped: int
    ) -> None:
        digest = c.upload_blob(io.BytesIO(data)).digest
        c.record_prediction_log(deployment, kind, day, digest, rows, first, last, project, dropped)

    return PredictionLog(sink, interval=3600)


def _traffic(
    log: PredictionLog, frame: pd.DataFrame, start_ms: int, prefix: str, model: Threshold
) -> None:
    columns = {
        "x1": frame["x1"].to_numpy(),
        "x2": frame["x2"].to_numpy(),
        "region": frame["region"].to_numpy(dtype=object),
    }
    _requests(log, columns, model.predict(frame), start_ms, prefix)


def _requests(
    log: PredictionLog,
    columns: dict[str, Any],
    outputs: Any,
    start_ms: int,
    prefix: str,
    version: int = 1,
) -> None:
    """One request a second from ``start_ms``, a row each: ``columns``' values and the
    model's ``outputs``, ids ``prefix0``, ``prefix1``, ..."""
    for i in range(len(outputs)):
        log.append(
            Entry(
                request_id=f"{prefix}{i}",
                time_ms=start_ms + i * 1000,
                version=version,
                role="primary",
                latency_ms=1.0,
                rows=1,
                columns={name: values[i : i + 1] for name, values in columns.items()},
                tensor=None,
                outputs=outputs[i : i + 1],
            )
        )


class Receiver(http.server.ThreadingHTTPServer):
    """A local webhook receiver; ``fail`` answers 500."""

    def __init__(self, fail: bool = False) -> None:
        self.bodies: list[bytes] = []
        self.fail = fail
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                owner.bodies.append(self.rfile.read(int(self.headers["content-length"])))
                self.send_response(500 if owner.fail else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


@pytest.mark.parametrize("mode", ["sqlite", "remote"], indirect=True)
def test_windows_alerts_and_late_labels(client: Any) -> None:
    reference = sp.log_dataset(_rows(3000, 0.0, 1), "customers", project="mon")
    model = Threshold(0.0)
    log = _log(client, "churn", "mon")
    _traffic(log, _rows(1500, 0.0, 2), T0, "a", model)  # hour 0: like the reference
    _traffic(log, _rows(1500, 2.0, 3), T0 + HOUR, "b", model)  # hour 1: x1 drifted
    _traffic(log, _rows(100, 2.0, 4), T0 + 2 * HOUR, "c", model)  # hour 2: not over yet
    log.flush()
    receiver = Receiver()
    sp.add_monitor(
        "churn-live",
        deployment="churn",
        reference=reference.ref,
        window="1h",
        project="mon",
        drift_share=0.3,
        metric_rules=[{"metric": "accuracy", "min": 0.9, "windows": 1}],
        sensitive=["region"],
        webhook=receiver.url,
    )
    done = sp.run_monitor("churn-live", project="mon", now=T0 + 2 * HOUR + 60_000)
    assert [w.start_at for w in done["computed"]] == [T0, T0 + HOUR]
    first, second = done["computed"]
    assert not first.result["drift"]["dataset_drift"], first.result["drift"]
    assert second.result["drift"]["dataset_drift"] and "x1" in second.result["drift"]["drifted"]
    assert [a.rule for a in done["raised"]] == ["drift"]
    assert done["raised"][0].details["webhook"]["delivered"] is True
    assert b'"rule":"drift"' in receiver.bodies[0]
    # nothing new: nothing computed, the open alert not raised again
    again = sp.run_monitor("churn-live", project="mon", now=T0 + 2 * HOUR + 120_000)
    assert again["computed"] == [] and again["raised"] == []
    # labels for hour 1 arrive late: that window is scored again, the metric rule breaks
    labels = _rows(1500, 2.0, 3)["label"].tolist()
    log.feedback(
        [Feedback(request_id=f"b{i}", time_ms=T0 + 3 * HOUR, label=v) for i, v in enumerate(labels)]
    )
    log.flush()
    late = sp.run_monitor("churn-live", project="mon", now=T0 + 3 * HOUR + 60_000)
    assert [w.start_at for w in late["computed"]] == [T0 + HOUR, T0 + 2 * HOUR]
    rescored = late["computed"][0].result
    assert rescored["labeled"] == 1500 and rescored["metrics"]["accuracy"] < 0.9
    assert set(rescored["fairness"]["region"]["groups"]) == {"north", "south"}
    assert [a.rule for a in late["raised"]] == ["metric:accuracy"]
    # the alert names the window that broke the rule (hour 1), not the newest computed
    assert late["raised"][0].details["window"]["start"] == T0 + HOUR
    windows = client.list_monitor_windows("churn-live", "mon")
    assert [w.start_at for w in windows] == [T0, T0 + HOUR, T0 + 2 * HOUR]
    open_rules = sorted(a.rule for a in client.list_alerts("mon", "churn-live", None, 100, "open"))
    assert open_rules == ["drift", "metric:accuracy"]
    receiver.shutdown()
    with pytest.raises(InvalidArgumentError, match="labeled must not exceed rows"):
        client.record_monitor_window("churn-live", T0, T0 + HOUR, 10, 11, {}, "mon")
    assert len(client.list_monitor_windows("churn-live", "mon")) == 3


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def _drifting_monitor(client: Any, name: str, **settings: Any) -> None:
    """Monitor ``name`` of deployment churn (project mon), whose one window of 300 logged rows
    has drifted from its reference."""
    reference = sp.log_dataset(_rows(2000, 0.0, 1), "customers", project="mon")
    log = _log(client, "churn", "mon")
    _traffic(log, _rows(300, 3.0, 2), T0, "a", Threshold(0.0))
    log.flush()
    sp.add_monitor(
        name,
        deployment="churn",
        reference=reference.ref,
        window="300rows",
        project="mon",
        drift_share=0.3,
        **settings,
    )


def test_a_failing_webhook_is_retried_then_recorded_and_the_monitor_goes_on(client: Any) -> None:
    receiver = Receiver(fail=True)
    _drifting_monitor(client, "hooked", webhook=receiver.url)
    done = sp.run_monitor("hooked", project="mon")
    assert len(done["computed"]) == 1
    hook = done["raised"][0].details["webhook"]
    assert hook["delivered"] is False and hook["attempts"] == 3 and "HTTP 500" in hook["error"]
    assert len(receiver.bodies) == 3
    # and it is kept with the stored alert (what the web UI shows), posted after the raise
    [stored] = sp.client().list_alerts("mon", "hooked")
    assert stored.details["webhook"] == hook and stored.details["window"]
    receiver.shutdown()
    reference = "mon/customers@1"
    for window in ("soon", "\u00b2h", "99999999999999999999h", "36501d", "0rows", "+5rows"):
        with pytest.raises(sp.errors.InvalidArgumentError, match="window must be a duration"):
            sp.add_monitor(
                "bad", deployment="churn", reference=reference, window=window, project="mon"
            )
    with pytest.raises(sp.errors.ConflictError):
        sp.add_monitor("hooked", deployment="churn", reference=reference, project="mon")


def test_fairness_matches_fairlearn() -> None:
    fairlearn = pytest.importorskip("fairlearn.metrics")
    from setpoint.monitoring.windows import fairness

    rng = np.random.default_rng(0)
    groups = rng.choice(["a", "b", "c"], 2000)
    y = rng.integers(0, 2, 2000)
    p = np.where(groups == "a", rng.integers(0, 2, 2000), (rng.random(2000) < 0.3).astype(int))
    ours = fairness(groups, y, p, 1)
    dp = fairlearn.demographic_parity_difference(y, p, sensitive_features=groups)
    eo = fairlearn.equalized_odds_difference(y, p, sensitive_features=groups)
    assert abs(ours["demographic_parity_difference"] - dp) < 1e-12
    assert abs(ours["equalized_odds_difference"] - eo) < 1e-12
    frame = fairlearn.MetricFrame(
        metrics=fairlearn.selection_rate, y_true=y, y_pred=p, sensitive_features=groups
    ).by_group
    for g, rate in frame.items():
        assert abs(ours["groups"][g]["selection_rate"] - rate) < 1e-12


RETRAIN = """
import numpy as np
import pandas as pd
import setpoint as sp

class Threshold:
    def __init__(self, cut):
        self.cut = cut
    def predict(self, frame):
        return (frame["x1"].to_numpy() > self.cut).astype(np.int64)

@sp.step(cache=False)
def labeled() -> dict:
    log = sp.prediction_log("churn", project="loop").dropna(subset=["label"])
    return {"x1": log["input.x1"].tolist(), "label": [int(v) for v in log["label"]]}

@sp.step(cache=False, pickle=True)
def fit(data: dict) -> object:
    x1, y = np.asarray(data["x1"]), np.asarray(data["label"])
    cuts = np.quantile(x1, np.linspace(0.05, 0.95, 91))
    best = max(cuts, key=lambda c: np.mean((x1 > c) == y))
    return Threshold(float(best))

@sp.step(cache=False)
def promote(model: object) -> dict:
    example = pd.DataFrame({"x1": [0.0], "x2": [0.0], "region": ["north"]})
    mv = sp.log_model(model, "churn", project="loop", input_example=example, flavor="custom")
    sp.promote(mv.ref, to="champion", reason="retrained on drift")
    return {"version": mv.version}

@sp.pipeline(project="loop")
def retrain():
    promote(fit(labeled()))
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_the_closed_loop(client: Any, tmp_path: Path) -> None:
    import httpx

    from serving.live import LiveServer
    from setpoint.cli.pipeline import _load, absolute
    from setpoint.client.scheduler import tick
    from setpoint.client.serving import ServeSpec, build_app

    reference = _rows(2000, 0.0, 1)
    ref = sp.log_dataset(reference, "customers", project="loop")
    v1 = sp.log_model(
        Threshold(0.0),
        "churn",
        project="loop",
        input_example=reference[["x1", "x2", "region"]][:5],
        flavor="custom",
    )
    sp.set_alias("churn", "champion", v1.version, project="loop")
    (tmp_path / "retrain.py").write_text(RETRAIN)
    sp.add_monitor(
        "churn-live",
        deployment="churn",
        reference=ref.ref,
        window="400rows",
        project="loop",
        drift_share=0.3,
    )
    target = absolute(f"{tmp_path / 'retrain.py'}:retrain")
    client.add_schedule("retrain", target, "loop", {}, None, None, None, "churn-live")
    spec = ServeSpec(model="churn", project="loop", poll=0.2, log_interval=0.2, access_log=False)
    with (
        LiveServer(build_app(spec, client, str(tmp_path / "cache"))) as live,
        httpx.Client(base_url=live.url) as http,
    ):
        drifted = _rows(400, 2.0, 7)  # the world moved: x1 is larger now, and so is the boundary
        features = drifted[["x1", "x2", "region"]]
        for i in range(len(drifted)):
            body = {"dataframe_records": features[i : i + 1].to_dict("records")}
            r = http.post("/invocations", json=body, headers={"x-request-id": f"t{i}"})
            assert r.status_code == 200 and r.headers["x-model-version"] == "1"
        before = float(np.mean(Threshold(0.0).predict(drifted) == drifted["label"]))
        http.post(
            "/feedback",
            json={
                "feedback": [
                    {"request_id": f"t{i}", "label": int(v)} for i, v in enumerate(drifted["label"])
                ]
            },
        )
        deadline = time.monotonic() + 20
        while (
            sum(f.rows for f in client.list_prediction_logs("churn", "loop", "predictions")) < 400
        ):
            assert time.monotonic() < deadline, "the prediction log was not written"
            time.sleep(0.1)
        while not client.list_prediction_logs("churn", "loop", "feedback"):
            assert time.monotonic() < deadline, "the feedback was not written"
            time.sleep(0.1)
        done = sp.run_monitor("churn-live", project="loop")
        assert [a.rule for a in done["raised"]] == ["drift"]

        def runner(s: Any) -> str:  # the scheduler's run, in this process
            return str(sp.run_pipeline(_load(s.target), project=s.project).run_id)

        ran = tick(client, int(time.time() * 1000), "test", runner)
        assert [(r["schedule"], r["status"]) for r in ran] == [("retrain", "succeeded")]
        assert client.resolve_alias("churn", "champion", "loop").version == 2
        deadline = time.monotonic() + 20
        while True:  # the server follows the alias
            r = http.post(
                "/invocations", json={"dataframe_records": features[:1].to_dict("records")}
            )
            if r.headers["x-model-version"] == "2":
                break
            assert time.monotonic() < deadline, "the server never served version 2"
            time.sleep(0.1)
        after = np.asarray(
            http.post(
                "/invocations", json={"dataframe_records": features.to_dict("records")}
            ).json()["predictions"]
        )
        assert float(np.mean(after == drifted["label"].to_numpy())) > before + 0.2


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_the_monitor_commands(client: Any, tmp_path: Path, capsys: Any) -> None:
    from setpoint.cli.main import main

    reference = sp.log_dataset(_rows(2000, 0.0, 1), "customers", project="mon")
    log = _log(client, "churn", "mon")
    _traffic(log, _rows(300, 3.0, 2), T0, "a", Threshold(0.0))
    log.flush()
    (tmp_path / "retrain.py").write_text(
        "import setpoint as sp\n\n@sp.step\ndef one() -> int:\n    return 1\n\n"
        "@sp.pipeline(project='mon')\ndef retrain():\n    one()\n"
    )
    with pytest.raises(SystemExit) as exit_:  # a wrong --on-alert stores no monitor
        main(
            [
                "monitor", "add", "live", "--deployment", "churn", "--reference", reference.ref,
                "--on-alert", f"retrain={tmp_path / 'retrain.py'}:nope", "--project", "mon",
            ]
        )  # fmt: skip
    assert exit_.value.code != 0 and client.list_monitors("mon") == []
    (tmp_path / "weights.bin").write_bytes(b"not a table")
    files = sp.log_dataset(str(tmp_path / "weights.bin"), name="weights", project="mon")
    with pytest.raises(InvalidArgumentError, match="no profile"):
        sp.add_monitor("on-files", deployment="churn", reference=files.ref, project="mon")
    assert client.list_monitors("mon") == []
    main(
        [
            "monitor", "add", "live", "--deployment", "churn", "--reference", reference.ref,
            "--window", "300rows", "--drift-share", "0.3", "--alert-below", "accuracy<0.9:2",
            "--alert-decay", "accuracy:0.05:2",
            "--on-alert", f"retrain={tmp_path / 'retrain.py'}:retrain", "--project", "mon",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "monitoring mon/churn as live against mon/customers@1" in out
    assert "schedule retrain" in out
    assert [s.alert for s in client.list_schedules("mon")] == ["live"]
    for on_alert, phrase in (
        (f"retrain={tmp_path / 'retrain.py'}:retrain", "a schedule named 'retrain' already"),
        (f"bad name={tmp_path / 'retrain.py'}:retrain", "schedule name"),
    ):
        with pytest.raises(SystemExit) as exit_:  # the schedule could not be added: no monitor
            main(
                [
                    "monitor", "add", "second", "--deployment", "churn",
                    "--reference", reference.ref, "--on-alert", on_alert, "--project", "mon",
                ]
            )  # fmt: skip
        assert exit_.value.code == 2 and phrase in capsys.readouterr().err
        assert [m.name for m in client.list_monitors("mon")] == ["live"]
    with pytest.raises(SystemExit) as exit_:
        main(["monitor", "run", "live", "--project", "mon"])
    assert exit_.value.code == 3  # alerts raised
    assert "ALERT drift" in capsys.readouterr().out
    main(["monitor", "status", "live", "--project", "mon"])
    status = capsys.readouterr().out
    assert "DRIFT" in status and "open alerts" in status
    assert "rows 1-300 (last " in status and "1970" not in status  # a window of rows
    with pytest.raises(SystemExit) as exit_:
        main(["monitor", "status", "live", "--last", "0", "--project", "mon"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit) as exit_:
        main(["monitor", "resolve", str(2**70), "--project", "mon"])
    assert exit_.value.code == 2 and "ALERT_ID" in capsys.readouterr().err
    main(["monitor", "list", "--project", "mon"])
    assert "300 rows" in capsys.readouterr().out
    page = tmp_path / "report.html"
    main(["monitor", "report", "live", "-o", str(page), "--project", "mon"])
    assert "1 window(s), 1 alert(s)" in capsys.readouterr().out
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "<polyline" in text
    assert "x1 · drifted" in text and "http" not in text.replace("http-equiv", "")  # offline
    assert "<script" not in text
    with pytest.raises(SystemExit) as exit_:  # the file would not have been written
        main(["monitor", "report", "live", "-o", str(page), "--json", "--project", "mon"])
    assert exit_.value.code == 2 and "not both" in capsys.readouterr().err
    main(["monitor", "report", "live", "--json", "--project", "mon"])
    data = json.loads(capsys.readouterr().out)
    assert data["windows"][0]["result"]["histograms"]["x1"]["current"]
    assert data["alerts"][0]["rule"] == "drift"
    main(["monitor", "resolve", str(data["alerts"][0]["id"]), "--project", "mon"])
    assert client.list_alerts("mon", "live", None, 10, "open") == []
    with pytest.raises(SystemExit) as exit_:
        main(["monitor", "resolve", "999", "--project", "mon"])
    assert exit_.value.code == 1 and "no alert 999" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "monitor",
                "add",
                "x",
                "--deployment",
                "churn",
                "--reference",
                reference.ref,
                "--alert-below",
                "accuracy>0.9",
                "--project",
                "mon",
            ]
        )
    assert exit_.value.code == 2 and "METRIC<VALUE" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "monitor",
                "add",
                "y",
                "--deployment",
                "churn",
                "--reference",
                reference.ref,
                "--alert-decay",
                "accuracy",
                "--project",
                "mon",
            ]
        )
    assert exit_.value.code == 2 and "METRIC:DROP" in capsys.readouterr().err
    add = ["monitor", "add", "z", "--deployment", "churn", "--reference", reference.ref]
    main([*add, "--alert-above", "rmse>5:2", "--project", "mon"])
    [z] = [m for m in client.list_monitors("mon") if m.name == "z"]
    assert z.config["metric_rules"] == [{"metric": "rmse", "max": 5.0, "windows": 2}]
    for option, text, said in (
        ("--alert-above", "rmse<5", "METRIC>VALUE"),
        ("--alert-below", "rmse<5", "give max instead (--alert-above rmse>VALUE)"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main([*add[:2], "w", *add[3:], option, text, "--project", "mon"])
        assert exit_.value.code != 0 and said in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_unknown_feedback_an_empty_log_and_a_slow_webhook(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from setpoint.client import monitoring

    reference = sp.log_dataset(_rows(2000, 0.0, 1), "customers", project="mon")
    sp.add_monitor(
        "quiet", deployment="nothing-yet", reference=reference.ref, window="1h", project="mon"
    )
    assert sp.run_monitor("quiet", project="mon") == {"computed": [], "raised": [], "resolved": []}
    log = _log(client, "churn", "mon")
    _traffic(log, _rows(300, 3.0, 2), T0, "a", Threshold(0.0))
    log.feedback([Feedback(request_id="nobody-asked", time_ms=T0, label=1)])  # joins nothing
    log.flush()

    class Slow(http.server.ThreadingHTTPServer):
        def __init__(self) -> None:
            class Handler(http.server.BaseHTTPRequestHandler):
                def do_POST(self) -> None:
                    time.sleep(1.0)  # longer than the (shortened) timeout
                    self.send_response(204)
                    self.end_headers()

                def log_message(self, *args: Any) -> None:
                    pass

            super().__init__(("127.0.0.1", 0), Handler)
            threading.Thread(target=self.serve_forever, daemon=True).start()

    slow = Slow()
    monkeypatch.setattr(monitoring, "WEBHOOK_TIMEOUT_S", 0.2)
    url = f"http://127.0.0.1:{slow.server_address[1]}/hook"
    sp.add_monitor(
        "slow",
        deployment="churn",
        reference=reference.ref,
        window="300rows",
        project="mon",
        drift_share=0.3,
        webhook=url,
    )
    done = sp.run_monitor("slow", project="mon")
    assert done["computed"][0].labeled == 0  # the stray label matched no request
    hook = done["raised"][0].details["webhook"]
    assert hook["delivered"] is False and "Timeout" in hook["error"]
    slow.shutdown()


def test_the_scheduler_runs_monitors_then_the_schedules_their_alerts_trigger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from setpoint.cli.main import main
    from setpoint.client import sdk

    monkeypatch.setenv("SETPOINT_HOME", str(tmp_path / "home"))
    sdk.use(None)
    try:
        c = sdk.client()
        reference = sp.log_dataset(_rows(2000, 0.0, 1), "customers", project="mon")
        log = _log(c, "churn", "mon")
        _traffic(log, _rows(300, 3.0, 2), T0, "a", Threshold(0.0))
        log.flush()
        marker = tmp_path / "retrained"
        (tmp_path / "retrain.py").write_text(
            "from pathlib import Path\nimport setpoint as sp\n\n@sp.step(cache=False)\n"
            f"def mark() -> int:\n    Path({str(marker)!r}).write_text('yes')\n    return 1\n\n"
            "@sp.pipeline(project='mon')\ndef retrain():\n    mark()\n"
        )
        main(
            [
                "monitor", "add", "live", "--deployment", "churn", "--reference", reference.ref,
                "--window", "300rows", "--drift-share", "0.3", "--project", "mon",
                "--on-alert", f"retrain={tmp_path / 'retrain.py'}:retrain",
            ]
        )  # fmt: skip
        capsys.readouterr()
        main(["scheduler", "--once"])
        out = capsys.readouterr().out
        assert "monitor mon/live: 1 window(s), 1 alert(s) raised" in out
        assert "retrain alert:live#" in out and "succeeded" in out
        assert marker.read_text() == "yes"
        # a monitor failing in a way nobody foresaw is reported, and the others still run
        main(
            [
                "monitor", "add", "second", "--deployment", "churn",
                "--reference", reference.ref, "--project", "mon",
            ]
        )  # fmt: skip
        ran = []

        def failing(name: str, project: str | None = None) -> dict[str, Any]:
            ran.append(name)
            if name == "live":
                raise TypeError("a bug")
            return {"computed": [], "raised": [], "resolved": []}

        monkeypatch.setattr(sdk, "run_monitor", failing)
        capsys.readouterr()
        main(["scheduler", "--once"])
        assert sorted(ran) == ["live", "second"]
        assert "monitor mon/live: failed: TypeError: a bug" in capsys.readouterr().err
    finally:
        sdk.use(None)


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_decay_is_measured_against_the_served_versions_evaluation(client: Any) -> None:
    reference = sp.log_dataset(_rows(2000, 0.0, 1), "customers", project="dec")
    sp.log_model(
        Threshold(0.0),
        "churn",
        project="dec",
        input_example=_rows(5, 0.0, 1)[["x1", "x2", "region"]],
        flavor="custom",
    )
    client.record_evaluation(
        "churn", 1, reference.ref, "label", "classification", {"accuracy": 0.95}, None, "dec"
    )
    log = _log(client, "churn", "dec")
    traffic = _rows(300, 2.0, 5)  # the new pattern: the served rule is right half the time
    _traffic(log, traffic, T0, "d", Threshold(0.0))
    log.feedback(
        [
            Feedback(request_id=f"d{i}", time_ms=T0, label=int(v))
            for i, v in enumerate(traffic["label"])
        ]
    )
    log.flush()
    sp.add_monitor(
        "decay",
        deployment="churn",
        reference=reference.ref,
        window="300rows",
        project="dec",
        drift_share=1.0,  # only the decay rule here
        decay_rules=[{"metric": "accuracy", "max_drop": 0.1, "windows": 1}],
    )
    done = sp.run_monitor("decay", project="dec")
    window = done["computed"][0].result
    assert window["baseline"] == {"accuracy": 0.95} and window["metrics"]["accuracy"] < 0.85
    (alert,) = done["raised"]
    assert alert.rule == "decay:accuracy" and alert.details["baseline"] == 0.95
    with pytest.raises(sp.errors.InvalidArgumentError, match="max_drop must be above 0"):
        sp.add_monitor(
            "bad",
            deployment="churn",
            reference=reference.ref,
            project="dec",
            decay_rules=[{"metric": "accuracy", "max_drop": -1}],
        )


def _quiet_rows(n: int, shift: float, seed: int) -> pd.DataFrame:
    frame = _rows(n, shift, seed)
    frame["x2"] = np.random.default_rng(seed + 100).normal(shift, 1, n)
    return frame


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_every_new_window_is_checked_and_a_quiet_log_is_no_error(client: Any) -> None:
    """One run computing three windows checked only the newest: drift in the middle one
    raised nothing. A run with nothing newer than the computed windows failed (TypeError),
    and stopped `setpoint scheduler` with it."""
    reference = sp.log_dataset(_rows(3000, 0.0, 1), "customers", project="loop")
    log = _log(client, "churn", "loop")
    _traffic(log, _quiet_rows(1200, 0.0, 2), T0, "a", Threshold(0.0))
    _traffic(log, _quiet_rows(1200, 3.0, 3), T0 + HOUR, "b", Threshold(0.0))  # drifted
    _traffic(log, _quiet_rows(1200, 0.0, 4), T0 + 2 * HOUR, "c", Threshold(0.0))
    log.flush()
    sp.add_monitor("live", deployment="churn", reference=reference.ref, window="1h", project="loop")
    done = sp.run_monitor("live", project="loop", now=T0 + 3 * HOUR + 61_000)
    assert [w.result["drift"]["dataset_drift"] for w in done["computed"]] == [False, True, False]
    [raised] = done["raised"]
    assert raised.rule == "drift" and raised.details["window"]["start"] == T0 + HOUR
    assert [a.id for a in done["resolved"]] == [raised.id]  # the newest window holds again
    later = sp.run_monitor("live", project="loop", now=T0 + 30 * HOUR)
    assert later == {"computed": [], "raised": [], "resolved": []}


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_window_with_nothing_to_test_keeps_the_drift_alert_open(client: Any) -> None:
    reference = sp.log_dataset(_rows(3000, 0.0, 1), "customers", project="ren")
    log = _log(client, "churn", "ren")
    _traffic(log, _quiet_rows(1200, 3.0, 2), T0, "a", Threshold(0.0))
    log.flush()
    sp.add_monitor("live", deployment="churn", reference=reference.ref, window="1h", project="ren")
    assert [a.rule for a in sp.run_monitor("live", project="ren", now=T0 + 2 * HOUR)["raised"]] == [
        "drift"
    ]
    renamed = _quiet_rows(1200, 3.0, 3)
    # a new model version logs its inputs under other names
    silent = np.zeros(len(renamed), dtype=np.int64)
    _requests(log, {"X1": renamed["x1"].to_numpy()}, silent, T0 + HOUR, "r", version=2)
    log.flush()
    done = sp.run_monitor("live", project="ren", now=T0 + 3 * HOUR)
    [window] = done["computed"]
    assert window.result["drift"]["features"] == {}
    assert window.result["drift"]["problems"]["x1"] == "missing from the current data"
    assert done["resolved"] == []  # nothing was tested: the window says nothing of drift
    assert [a.rule for a in client.list_alerts("ren", "live", None, 10, "open")] == ["drift"]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_regression_with_whole_number_labels_is_scored_as_one(client: Any) -> None:
    rng = np.random.default_rng(0)
    frame = _rows(300, 0.0, 1)
    price = np.round(frame["x1"].to_numpy() * 1000 + 50_000).astype(np.int64)
    reference = sp.log_dataset(frame.assign(price=price), "homes", project="reg")
    log = _log(client, "pricer", "reg")
    predicted = price + rng.normal(0, 5, price.size)
    _requests(log, {"x1": frame["x1"].to_numpy()}, predicted, T0, "p")
    log.feedback(
        [
            Feedback(request_id=f"p{i}", time_ms=T0 + 10_000, label=int(v))
            for i, v in enumerate(price)
        ]
    )
    log.flush()
    sp.add_monitor(
        "live",
        deployment="pricer",
        reference=reference.ref,
        window="1h",
        project="reg",
        metric_rules=[{"metric": "mae", "max": 100.0}],
    )
    [window] = sp.run_monitor("live", project="reg", now=T0 + 2 * HOUR)["computed"]
    assert window.result["task"] == "regression"
    assert 2 < window.result["metrics"]["mae"] < 8


@pytest.mark.parametrize("mode", ["sqlite", "remote"], indirect=True)
def test_monitor_settings_that_could_never_work_are_refused(client: Any) -> None:
    reference = sp.log_dataset(_rows(500, 0.0, 1), "customers", project="cfg")

    def refused(field: str, message: str, **settings: Any) -> None:
        with pytest.raises(InvalidArgumentError, match=message) as e:
            sp.add_monitor(
                "m", deployment="churn", reference=reference.ref, project="cfg", **settings
            )
        assert e.value.field == field

    refused(
        "metric_rules",
        "metric 'accurcy' is not one of",
        metric_rules=[{"metric": "accurcy", "min": 0.8}],
    )
    refused(
        "metric_rules",
        "min must be a finite number",
        metric_rules=[{"metric": "accuracy", "min": math.nan}],
    )
    refused(
        "metric_rules",
        "min must be a finite number",
        metric_rules=[{"metric": "accuracy", "min": math.inf}],
    )
    refused(
        "metric_rules",
        "min must be a finite number",
        metric_rules=[{"metric": "accuracy", "min": True}],
    )
    refused(
        "decay_rules",
        "windows must be a whole number",
        decay_rules=[{"metric": "f1", "max_drop": 0.1, "windows": 0}],
    )
    refused("target", "'nosuchcol' is not a column of cfg/customers@1", target="nosuchcol")
    refused("sensitive", "'zone' is not a column", sensitive=["region", "zone"])
    refused("sensitive", "sensitive must be a list of column names", sensitive=[""])
    refused("webhook", "webhook must be an http", webhook="http://")
    refused("fairness_gap", "fairness_gap must be in", fairness_gap=True)
    assert client.list_monitors("cfg") == []
    with pytest.raises(InvalidArgumentError, match="window_seconds must be a whole number") as e:
        client.add_monitor("m", "churn", reference.ref, {"window_seconds": 2**62}, "cfg", None)
    assert e.value.field == "window_seconds"
    config = {"window_seconds": 3600}
    for reference_text, message in (
        ("nonsense@x", "positive number or 'latest'"),
        ("cfg/customers", "must name a version"),
        ("cfg/customers@7", "version"),
    ):
        with pytest.raises(sp.errors.SetpointError, match=message) as e:
            client.add_monitor("m", "churn", reference_text, config, "cfg", None)
        assert e.value.field in ("reference", "version")
    m = client.add_monitor("m", "churn", reference.ref, config, "cfg", None)
    # a window of the wrong bounds or shape would break the CLI, the report and the web UI
    good = {
        "drift": {
            "dataset_drift": False,
            "share_drifted": 0.0,
            "drifted": [],
            "features": {},
            "problems": {},
        }
    }
    for start, end, result, field in (
        (T0, T0 + 1, good, "end_at"),
        (T0 + 5, T0 + 5 + HOUR, good, "end_at"),
        (9_223_372_036_800_000, 9_223_372_036_800_000 + HOUR, good, "end_at"),
        (T0, T0 + HOUR, {"drift": 1}, "result"),
        (T0, T0 + HOUR, {**good, "metrics": {"accuracy": "high"}}, "result"),
    ):
        with pytest.raises(InvalidArgumentError) as e:
            client.record_monitor_window(m.name, start, end, 5, 1, result, "cfg")
        assert e.value.field == field, (start, end, result)
    assert client.list_monitor_windows("m", "cfg") == []
    client.record_monitor_window(m.name, T0, T0 + HOUR, 5, 1, good, "cfg")


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_text_class_labels_are_scored(client: Any) -> None:
    """The positive class of "yes"/"no" labels was numpy's max of text, which has none: the
    monitor failed on that window in every run."""
    rng = np.random.default_rng(0)
    reference = sp.log_dataset(pd.DataFrame({"x1": rng.normal(0, 1, 2000)}), "d", project="txt")
    log = _log(client, "churn", "txt")
    x1 = rng.normal(0, 1, 100)
    predicted = np.where(x1 > 0, "yes", "no").astype(object)
    _requests(log, {"x1": x1}, predicted, T0, "a")
    truth = np.where(x1 > 0.5, "yes", "no")
    log.feedback(
        [Feedback(request_id=f"a{i}", time_ms=T0 + 1000, label=str(v)) for i, v in enumerate(truth)]
    )
    log.flush()
    sp.add_monitor("live", deployment="churn", reference=reference.ref, project="txt")
    [window] = sp.run_monitor("live", project="txt", now=T0 + 2 * HOUR)["computed"]
    metrics = window.result["metrics"]
    assert window.result["task"] == "classification"
    assert metrics["recall"] == 1.0 and 0 < metrics["precision"] < 1  # "yes" is positive


def test_a_window_of_negatives_only_scores_zero_as_scikit_learn() -> None:
    """Only 0s, labels and predictions: 0 was taken for the positive class, and precision,
    recall and F1 were a perfect 1."""
    from setpoint.monitoring.windows import performance

    zeros = np.zeros(50, dtype=np.int64)
    scores = performance(zeros, zeros, "classification")
    assert scores == {"accuracy": 1.0, "precision": 0.0, "recall": 0.0, "f1": 0.0}


def _window(metrics: dict[str, float], baseline: dict[str, float]) -> dict[str, Any]:
    drift = {"features": {}, "dataset_drift": False, "share_drifted": 0.0, "drifted": []}
    return {"drift": drift, "metrics": metrics, "baseline": baseline}


def test_rules_on_error_metrics_break_when_the_error_rises() -> None:
    """An error (mae, rmse) is worse when higher: decay rules alerted when it halved and
    not when it doubled, and a bound on rmse alerted only when the model improved."""
    from setpoint.monitoring.monitors import check_config
    from setpoint.monitoring.windows import breaches

    decay = check_config(
        {"window_seconds": 3600, "decay_rules": [{"metric": "mae", "max_drop": 0.05}]}
    )
    [broken], _ = breaches(decay, [_window({"mae": 2.0}, {"mae": 1.0})])
    assert broken.rule == "decay:mae"
    assert "mae 2.0000 is more than 0.05 above the served version's" in broken.message
    assert breaches(decay, [_window({"mae": 0.5}, {"mae": 1.0})]) == ([], ["decay:mae"])
    bound = check_config({"window_seconds": 3600, "metric_rules": [{"metric": "rmse", "max": 1}]})
    [broken], _ = breaches(bound, [_window({"rmse": 5.0}, {})])
    assert broken.message == "rmse above 1 for 1 window(s): [5.0]"
    assert broken.details["max"] == 1.0
    assert breaches(bound, [_window({"rmse": 0.5}, {})]) == ([], ["metric:rmse"])
    # a floor on an error would alert when the model improves: refused, naming the way out
    with pytest.raises(InvalidArgumentError, match=r"give max instead \(--alert-above rmse>"):
        check_config({"window_seconds": 3600, "metric_rules": [{"metric": "rmse", "min": 1}]})
    with pytest.raises(InvalidArgumentError, match="exactly metric, min or max, and windows"):
        check_config(
            {"window_seconds": 3600, "metric_rules": [{"metric": "f1", "min": 0.5, "max": 1}]}
        )
    accuracy = check_config(
        {"window_seconds": 3600, "decay_rules": [{"metric": "accuracy", "max_drop": 0.05}]}
    )
    [broken], _ = breaches(accuracy, [_window({"accuracy": 0.8}, {"accuracy": 0.9})])
    assert "accuracy 0.8000 is more than 0.05 below" in broken.message


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_an_infinite_error_breaks_its_rule_and_is_shown(client: Any, capsys: Any) -> None:
    """JSON stored an infinite rmse as null: the rules then compared None with a number and
    the monitor failed, and `monitor status` failed to format it."""
    from setpoint.cli.main import main

    rng = np.random.default_rng(0)
    reference = sp.log_dataset(pd.DataFrame({"x1": rng.normal(0, 1, 500)}), "d", project="inf")
    log = _log(client, "pricer", "inf")
    x1 = rng.normal(0, 1, 50)
    predicted = x1 + 0.5
    predicted[3] = np.inf
    _requests(log, {"x1": x1}, predicted, T0, "a")
    log.feedback(
        [Feedback(request_id=f"a{i}", time_ms=T0 + 1000, label=float(v)) for i, v in enumerate(x1)]
    )
    log.flush()
    sp.add_monitor(
        "live",
        deployment="pricer",
        reference=reference.ref,
        project="inf",
        task="regression",
        metric_rules=[{"metric": "rmse", "max": 0.1}],
    )
    done = sp.run_monitor("live", project="inf", now=T0 + 2 * HOUR)
    [alert] = done["raised"]
    assert alert.rule == "metric:rmse" and alert.message == "rmse above 0.1 for 1 window(s): [inf]"
    [window] = client.list_monitor_windows("live", "inf")
    assert window.result["nonfinite_metrics"] == {"mae": "inf", "rmse": "inf"}
    main(["monitor", "status", "live", "--project", "inf"])
    assert "rmse=inf" in capsys.readouterr().out


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_late_labels_do_not_raise_a_windows_alert_again(client: Any) -> None:
    """Labels arriving for a window that had raised (and since resolved) the drift alert
    raised it again, and the retraining schedule on the monitor's alerts ran twice."""
    reference = sp.log_dataset(_rows(2000, 0.0, 1), "customers", project="late")
    log = _log(client, "churn", "late")
    _traffic(log, _quiet_rows(300, 3.0, 2), T0, "a", Threshold(0.0))  # drifted
    _traffic(log, _quiet_rows(300, 0.0, 3), T0 + HOUR, "b", Threshold(0.0))
    log.flush()
    sp.add_monitor(
        "live",
        deployment="churn",
        reference=reference.ref,
        project="late",
        metric_rules=[{"metric": "accuracy", "min": 0.9}],
    )
    first = sp.run_monitor("live", project="late", now=T0 + 2 * HOUR + 61_000)
    assert [a.rule for a in first["raised"]] == [a.rule for a in first["resolved"]] == ["drift"]
    log.feedback([Feedback(request_id=f"a{i}", time_ms=T0 + 3 * HOUR, label=0) for i in range(300)])
    log.flush()
    late = sp.run_monitor("live", project="late", now=T0 + 3 * HOUR + 61_000)
    assert [w.start_at for w in late["computed"]] == [T0]
    assert [a.rule for a in late["raised"]] == ["metric:accuracy"]  # what the labels show
    assert [a.rule for a in client.list_alerts("late", "live", None, 10)].count("drift") == 1


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_bad_reference_is_named_as_the_reference(client: Any, capsys: Any) -> None:
    from setpoint.cli.main import main

    sp.log_dataset(_rows(100, 0.0, 1), "customers", project="ref")
    for reference in ("ref/nothing@1", "ref/customers@9", "ref/customers@x"):
        with pytest.raises(SystemExit) as exit_:
            main(["monitor", "add", "m", "--deployment", "churn", "--reference", reference])
        assert exit_.value.code != 0
        assert "error (reference)" in capsys.readouterr().err, reference
    assert client.list_monitors("ref") == []
    # a reference without a project is in the monitor's project (-p), as the docs say
    main(
        ["monitor", "add", "m", "--deployment", "churn", "--reference", "customers@1", "-p", "ref"]
    )
    assert [m.reference for m in client.list_monitors("ref")] == ["ref/customers@1"]


def test_a_rule_has_one_open_alert_however_often_it_is_raised(client: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from setpoint.core.errors import ConflictError

    first = client.raise_alert("live", "x1 drifted", "mon", "warning", {}, None, "drift")
    with pytest.raises(
        ConflictError, match=f"open alert of rule 'drift' already \\(alert {first.id}"
    ):
        client.raise_alert("live", "x1 drifted", "mon", "warning", {}, None, "drift")
    # raisers at once (schedulers finding one breach): the store keeps one alert
    barrier = threading.Barrier(4)

    def raise_metric(k: int) -> bool:
        barrier.wait(timeout=30)
        try:
            client.raise_alert("live", f"accuracy fell {k}", "mon", "warning", {}, None, "acc")
        except ConflictError:
            return False
        return True

    with ThreadPoolExecutor(4) as pool:
        won = list(pool.map(raise_metric, range(4)))
    assert won.count(True) == 1
    open_ = client.list_alerts("mon", "live", None, 100, "open")
    assert sorted(a.rule for a in open_) == ["acc", "drift"]
    # resolved, the rule raises again (a new breach); alerts of no rule are never merged
    client.resolve_alert(first.id, "mon")
    again = client.raise_alert("live", "x1 drifted again", "mon", "warning", {}, None, "drift")
    assert again.id != first.id
    client.raise_alert("live", "a check of my own", "mon")
    client.raise_alert("live", "a check of my own", "mon")
    assert len(client.list_alerts("mon", "live", None, 100)) == 5


@pytest.mark.parametrize(
    "mode", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_two_schedulers_raise_one_alert_post_one_webhook_and_retrain_once(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from setpoint.client.scheduler import tick

    receiver = Receiver()
    _drifting_monitor(client, "live", webhook=receiver.url)
    client.add_schedule("retrain", "p.py:retrain", "mon", None, None, None, None, "live")
    # both runs read the windows done and the open alerts before either acts: the race
    reads = {"windows": threading.Barrier(2), "alerts": threading.Barrier(2)}
    seen: set[tuple[str, int]] = set()
    list_windows, list_alerts = client.list_monitor_windows, client.list_alerts

    def first_read(kind: str) -> None:
        if (kind, threading.get_ident()) not in seen:
            seen.add((kind, threading.get_ident()))
            reads[kind].wait(timeout=30)

    def windows(*args: Any, **kwargs: Any) -> Any:
        first_read("windows")
        return list_windows(*args, **kwargs)

    def alerts(*args: Any, **kwargs: Any) -> Any:
        if "open" in args or kwargs.get("status") == "open":
            first_read("alerts")
        return list_alerts(*args, **kwargs)

    monkeypatch.setattr(client, "list_monitor_windows", windows)
    monkeypatch.setattr(client, "list_alerts", alerts)
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: sp.run_monitor("live", project="mon"), range(2)))
    monkeypatch.undo()
    receiver.shutdown()
    assert sorted(len(r["raised"]) for r in runs) == [0, 1]
    assert [a.rule for a in client.list_alerts("mon", "live")] == ["drift"]
    assert len(receiver.bodies) == 1  # one webhook post
    assert len(client.list_monitor_windows("live", "mon")) == 1
    calls: list[str] = []

    def runner(s: Any) -> str:
        calls.append(s.name)
        return "run-1"

    tick(client, 0, "a", runner)
    tick(client, 0, "b", runner)
    assert calls == ["retrain"]  # one retraining


@pytest.mark.parametrize("mode", ["sqlite", "remote"], indirect=True)
def test_a_run_stopped_before_its_alerts_were_raised_raises_them_next_time(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _drifting_monitor(client, "live")

    def stopped(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # the scheduler stopped (Ctrl-C, SIGTERM) just then

    monkeypatch.setattr(client, "raise_alert", stopped)
    with pytest.raises(KeyboardInterrupt):
        sp.run_monitor("live", project="mon")
    monkeypatch.undo()
    done = sp.run_monitor("live", project="mon")
    assert [a.rule for a in done["raised"]] == ["drift"] and len(done["computed"]) == 1
    assert [a.rule for a in client.list_alerts("mon", "live", None, 10, "open")] == ["drift"]
    again = sp.run_monitor("live", project="mon")  # judged and stored: nothing more
    assert again["computed"] == [] and again["raised"] == []
