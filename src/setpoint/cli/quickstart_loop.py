"""The quickstart's closed loop: a fraud model served, card traffic replayed through the
server with feedback, a monitor that sees the second week drift and the model decay, an
alert that makes the scheduler run the retraining pipeline, the gates passed, the alias
moved, the server reloading, and accuracy coming back."""

from __future__ import annotations

import os
import time
from typing import Any

import click

import setpoint as sp
from setpoint.pipelines.dag import pipeline, step

PROJECT = "quickstart"
MODEL = "fraud-detector"
MONITOR = "fraud-live"
WINDOW = 600


@step(cache=False)
def latest_labeled(rows: int) -> dict:
    """The newest labeled rows of the deployment's prediction log."""
    from setpoint.monitoring.scenario import FEATURES

    log = sp.prediction_log(MODEL, project=PROJECT).dropna(subset=["label"]).tail(rows)
    out = {c: log[f"input.{c}"].astype(float).tolist() for c in FEATURES}
    out["fraud"] = [int(v) for v in log["label"]]
    return out


@step(cache=False)
def fit_model(data: dict) -> dict:
    import pandas as pd

    from setpoint.monitoring.scenario import fit

    m = fit(pd.DataFrame(data))
    return {"weights": m.weights, "bias": m.bias, "means": m.means, "scales": m.scales}


@step(cache=False)
def register_and_promote(params: dict, example: dict) -> dict:
    import pandas as pd

    from setpoint.monitoring.scenario import FraudModel

    mv = sp.log_model(
        FraudModel(**params),
        MODEL,
        project=PROJECT,
        input_example=pd.DataFrame(example),
        description="retrained on the labeled traffic after a drift alert",
    )
    sp.promote(mv.ref, to="champion", reason="monitor alert: retrained on recent traffic")
    return {"version": mv.version}


@pipeline(project=PROJECT)
def retrain_on_traffic(rows: int = WINDOW, example: dict | None = None):
    params = fit_model(latest_labeled(rows))
    register_and_promote(params, example or {})


def run_loop() -> None:
    import httpx

    from setpoint.client import sdk
    from setpoint.client.scheduler import tick
    from setpoint.client.serving import ServeSpec, serving
    from setpoint.monitoring.report import report_html
    from setpoint.monitoring.scenario import transactions

    c = sdk.client()
    if any(m.name == MONITOR for m in c.list_monitors(PROJECT)):
        # its alert is open from the first time, so the story would not replay: say where it is
        click.echo(
            f"closed loop: shown already in this store (monitor {MONITOR}): `setpoint monitor "
            f"status {MONITOR} --project {PROJECT}`; a quickstart in a new folder "
            "(SETPOINT_HOME) shows it again"
        )
        return
    week1 = transactions(4000, 1, 1)
    reference = sp.log_dataset(week1, "transactions", project=PROJECT)
    from setpoint.monitoring.scenario import fit

    features = ["amount", "distance", "online", "night", "merchant"]
    example = week1[features][:5]
    v1 = sp.log_model(fit(week1), MODEL, project=PROJECT, input_example=example)
    sp.set_alias(MODEL, "champion", v1.version, project=PROJECT, reason="quickstart: first model")
    sp.add_monitor(
        MONITOR,
        deployment=MODEL,
        reference=reference.ref,
        window=f"{WINDOW}rows",
        project=PROJECT,
        drift_share=0.3,
        metric_rules=[{"metric": "accuracy", "min": 0.75, "windows": 1}],
    )
    target = f"{os.path.abspath(__file__)}:retrain_on_traffic"
    c.add_schedule("retrain-on-alert", target, PROJECT, {}, None, None, None, MONITOR)
    spec = ServeSpec(model=MODEL, project=PROJECT, poll=0.2, log_interval=0.2, access_log=False)
    rows: list[tuple[str, str, str, str, str]] = []
    sent = 0
    with serving(spec) as url, httpx.Client(base_url=url) as http:

        def replay(frame: Any, phase: str) -> None:
            nonlocal sent
            versions, correct = set(), 0
            feedback = []
            for i in range(len(frame)):
                rid = f"tx-{sent + i}"
                body = {"dataframe_records": frame[features][i : i + 1].to_dict("records")}
                r = http.post("/invocations", json=body, headers={"x-request-id": rid})
                versions.add(r.headers["x-model-version"])
                label = int(frame["fraud"].iloc[i])
                correct += int(r.json()["predictions"][0] == label)
                feedback.append({"request_id": rid, "label": label})
            http.post("/feedback", json={"feedback": feedback})
            sent += len(frame)
            _wait_for_log(c, sent)
            done = sp.run_monitor(MONITOR, project=PROJECT)
            share = (
                done["computed"][-1].result["drift"]["share_drifted"] if done["computed"] else 0.0
            )
            raised = ", ".join(a.rule for a in done["raised"]) or "-"
            rows.append(
                (
                    phase,
                    "/".join(sorted(versions)),
                    f"{correct / len(frame):.2f}",
                    f"{share:.0%}",
                    raised,
                )
            )

        replay(transactions(WINDOW, 1, 11), "week 1")
        replay(transactions(WINDOW, 2, 12), "week 2")

        def runner(s: Any) -> str:  # the scheduler's run of the pipeline, here
            run = sp.run_pipeline(
                retrain_on_traffic, example=example.to_dict("list"), project=s.project
            )
            return str(run.run_id)

        ran = tick(c, int(time.time() * 1000), "quickstart", runner)
        new = c.resolve_alias(MODEL, "champion", PROJECT).version
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the server follows the alias
            r = http.post(
                "/invocations", json={"dataframe_records": example[:1].to_dict("records")}
            )
            if r.headers["x-model-version"] == str(new):
                break
            time.sleep(0.1)
        replay(transactions(WINDOW, 2, 13), "week 2, after retraining")
    from setpoint.cli.output import table

    click.echo(
        f"closed loop: {MODEL}@champion served on {url}; monitor {MONITOR} "
        f"({WINDOW}-row windows); the alert ran {', '.join(r['schedule'] for r in ran) or 'nothing'}"
        f" -> version {new}"
    )
    table(None, ["traffic", "served version", "accuracy", "drifted features", "alerts"], rows)
    home = sdk.settings().home
    path = os.path.join(home, "reports", f"{MONITOR}.html")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    m = c.get_monitor(MONITOR, PROJECT)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(
            report_html(
                m,
                c.list_monitor_windows(MONITOR, PROJECT),
                c.list_alerts(PROJECT, MONITOR, None, 100),
            )
        )
    click.echo(f"  monitor report: {path}")


def _wait_for_log(c: Any, rows: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        written = sum(f.rows for f in c.list_prediction_logs(MODEL, PROJECT, "predictions"))
        labels = sum(f.rows for f in c.list_prediction_logs(MODEL, PROJECT, "feedback"))
        if written >= rows and labels >= rows:
            return
        time.sleep(0.05)
