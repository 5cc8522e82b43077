"""``setpoint quickstart``: data and a tracked experiment, end to end, on whatever store is
configured.

Versions and profiles generated training data, infers a validation suite from it, stops an
incoming batch that breaks the suite, then trains a small logistic-regression model (numpy
only) on the validated data with a few learning rates, logs params, per-epoch metrics and
artifacts, and searches for the best run. The registry part registers a champion and two
candidates, evaluates them on a holdout version, promotes one through the gates, shows the
other refused, and rolls the champion back. Last, the training runs as a pipeline, twice: the
second time every step comes from the cache. Later capabilities (serving, monitoring) extend
it to the whole loop.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

import click

from setpoint.pipelines.dag import pipeline, step

PROJECT = "quickstart"


SEGMENTS = ["business", "retail", "student"]


def _data(seed: int = 7, n: int = 4000, d: int = 8):  # type: ignore[no-untyped-def]
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = np.random.default_rng(7).normal(size=d)  # the same world for every batch
    y = (X @ w + rng.normal(scale=1.0, size=n) > 0).astype(np.float64)
    split = int(n * 0.8)
    return X[:split], y[:split], X[split:], y[split:]


def _frame(X, y, seed: int):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["segment"] = rng.choice(SEGMENTS, len(frame))
    frame["label"] = y.astype(np.int64)
    return frame


def _bad_batch():  # type: ignore[no-untyped-def]
    """A batch like the training data, with the mistakes real pipelines make: a unit change
    in one feature, missing values in another, a category nobody has seen."""
    import numpy as np

    X, y, _, _ = _data(seed=8)
    frame = _frame(X, y, seed=8)
    frame.loc[frame.index[:40], "x0"] *= 100.0
    frame.loc[frame.index[100:105], "x3"] = np.nan
    frame.loc[frame.index[200:203], "segment"] = "unknown"
    return frame


def _check_data(sp, data) -> None:  # type: ignore[no-untyped-def]
    """Infer a suite from the training data, then stop a bad incoming batch with it."""
    from setpoint.client import sdk

    folder = Path(sdk.settings().home) / PROJECT
    folder.mkdir(parents=True, exist_ok=True)
    suite = folder / "training-data.yaml"
    suite.write_text(sp.infer_suite(data))
    report = sp.validate(data, suite, environment="training")
    click.echo(
        f"suite: inferred from {data.ref} -> {suite} ({len(report.checks)} checks); "
        f"{data.ref} {'passes' if report.passed else 'FAILS'}"
    )
    batch = sp.log_dataset(_bad_batch(), name="incoming", project=PROJECT)
    report = sp.validate(batch, suite, environment="training")
    click.echo(
        f"incoming batch {batch.ref} ({batch.num_rows} rows): validation "
        f"{'passed' if report.passed else 'FAILED'}, {report.errors} errors, "
        f"{report.warnings} warnings"
    )
    for c in report.failed:
        example = next((s for s in c.get("sample", []) if "value" in s), None)
        seen = f"; e.g. row {example['row']} = {example['value']!r}" if example else ""
        rows = f"{c['failing']} rows" if c.get("failing") is not None else c["observed"]
        click.echo(f"  {c['severity']:5} {c['check']} {c['column']}: {rows}{seen}")
    if not report.passed:
        click.echo(f"  stopped: {batch.ref} is not used for training")


def _auc(y, score) -> float:  # type: ignore[no-untyped-def]
    import numpy as np

    order = np.argsort(score)
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _train(run, X, y, Xv, yv, lr: float, epochs: int, l2: float):  # type: ignore[no-untyped-def]
    import numpy as np

    w = np.zeros(X.shape[1])
    for epoch in range(epochs):
        p = 1 / (1 + np.exp(-(X @ w)))
        grad = X.T @ (p - y) / len(y) + l2 * w
        w -= lr * grad
        eps = 1e-12
        loss = float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
        pv = 1 / (1 + np.exp(-(Xv @ w)))
        run.log_metric("loss", loss, step=epoch)
        run.log_metric("val_accuracy", float(np.mean((pv > 0.5) == yv)), step=epoch)
    pv = 1 / (1 + np.exp(-(Xv @ w)))
    return w, _auc(yv, pv), float(np.mean((pv > 0.5) == yv))


class LinearClassifier:
    """The quickstart's model: logistic regression weights over named feature columns."""

    def __init__(self, weights: list[float], columns: list[str]) -> None:
        self.weights = weights
        self.columns = columns

    def predict_proba(self, frame):  # type: ignore[no-untyped-def]
        import numpy as np

        x = np.asarray(frame[self.columns], dtype=np.float64)
        p = 1 / (1 + np.exp(-(x @ np.asarray(self.weights))))
        return np.column_stack([1 - p, p])

    def predict(self, frame):  # type: ignore[no-untyped-def]
        return (self.predict_proba(frame)[:, 1] > 0.5).astype("int64")


POLICY = """\
# Gates a model version must pass to become the champion.
dataset: {holdout}
gates:
  - metric: roc_auc          # absolute floor
    min: 0.75
  - compare: roc_auc         # no worse than the champion it replaces, same holdout
    direction: higher
    max_regression: 0.0
  - latency_p95_ms: 100      # predict on the input example batch
"""


def _registry(sp, runs, frame, data, holdout) -> None:  # type: ignore[no-untyped-def]
    """Register a champion and two candidates; gate, promote, refuse, roll back."""
    from setpoint.cli.output import table
    from setpoint.client import sdk

    name = "quickstart-model"
    columns = [c for c in frame.columns if c.startswith("x")]
    example = frame[columns][:5]
    versions = {}
    for label, (run_id, weights) in runs.items():
        with sp.start_run(project=PROJECT, name=f"register-{label}") as run:
            run.log_input(data)
            run.log_params(sp.get_run(run_id).params)  # what the weights were trained with
            run.set_tag("source_run", run_id)
            versions[label] = run.log_model(
                LinearClassifier(weights, columns),
                name,
                input_example=example,
                description=f"{label} of the sweep (run {run_id[:16]})",
            )
    sp.set_policy(name, "champion", POLICY.format(holdout=holdout.ref), project=PROJECT)
    sp.set_model_tags(
        versions["best"].ref,
        intended_use="Demonstrates setpoint's loop; scores rows of the quickstart's generated data.",
        limitations="Trained on synthetic data; says nothing about any real population.",
    )
    rows = []
    for label, mv in versions.items():
        ev = sp.evaluate(mv.ref, holdout, "label", slices=["segment"])
        rows.append((mv.ref, label, ev.metrics["roc_auc"], ev.metrics["accuracy"]))
    table(
        f"candidates on {holdout.ref} (sp.evaluate)",
        ["version", "from", "roc_auc", "accuracy"],
        rows,
    )
    for label in ("baseline", "best", "weakest"):
        mv = versions[label]
        try:
            result = sp.promote(mv.ref, to="champion", reason=f"quickstart: {label}")
            click.echo(f"promote {mv.ref} ({label}) -> champion: passed every gate")
        except sp.errors.PromotionRefusedError as exc:
            result = exc.promotion
            click.echo(f"promote {mv.ref} ({label}) -> champion: REFUSED")
        for g in result.gates:
            observed = (
                g["observed"] if not isinstance(g["observed"], float) else f"{g['observed']:.4f}"
            )
            mark = "pass" if g["passed"] else "FAIL"
            click.echo(f"  {mark}  {g['rule']}: {observed} {g['detail']}".rstrip())
    champion = sp.load_model(f"{PROJECT}/{name}@champion")
    click.echo(
        f"serving {champion.version.ref} as champion: predict(first 3 holdout rows) = "
        f"{champion.predict(holdout.to_pandas()[:3]).tolist()}"
    )
    back = sp.rollback(name, "champion", project=PROJECT, reason="quickstart: show a rollback")
    click.echo(f"rollback champion: version {back.from_version} -> {back.to_version}")
    verdict = sdk.client().verify_audit()
    click.echo(f"audit: {verdict.events} events, chain {'intact' if verdict.ok else 'BROKEN'}")


# ---- the same training as a pipeline: each step a tracked run, cached by content


@step
def make_data(seed: int) -> dict:
    """The generated training and validation split (as lists: JSON, hashed by content)."""
    X, y, Xv, yv = _data(seed=seed)
    return {"X": X.tolist(), "y": y.tolist(), "Xv": Xv.tolist(), "yv": yv.tolist()}


@step
def fit(data: dict, learning_rate: float, epochs: int) -> dict:
    """Logistic regression by gradient descent; the loss of each epoch is a metric."""
    import numpy as np

    from setpoint.client import sdk

    X, y = np.asarray(data["X"]), np.asarray(data["y"])
    w = np.zeros(X.shape[1])
    run = sdk.active_run()
    for epoch in range(epochs):
        p = 1 / (1 + np.exp(-(X @ w)))
        w -= learning_rate * X.T @ (p - y) / len(y)
        if run is not None:
            loss = float(-np.mean(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)))
            run.log_metric("loss", loss, step=epoch)
    return {"weights": w.tolist()}


@step
def validate_fit(model: dict, data: dict) -> dict:
    import numpy as np

    Xv, yv = np.asarray(data["Xv"]), np.asarray(data["yv"])
    score = Xv @ np.asarray(model["weights"])
    return {"auc": _auc(yv, score), "accuracy": float(np.mean((score > 0) == (yv == 1)))}


@pipeline(project=PROJECT)
def training(seed: int = 7, learning_rate: float = 0.5, epochs: int = 60):
    data = make_data(seed)
    model = fit(data, learning_rate, epochs)
    validate_fit(model, data)


def _pipeline(sp, epochs: int) -> None:  # type: ignore[no-untyped-def]
    """Run the training as a pipeline twice: the second run takes every step from the cache."""
    for attempt in ("first", "again"):
        result = sp.run_pipeline(training, epochs=epochs)
        steps = ", ".join(f"{s.step} {s.status}" for s in result.steps)
        took = sum(s.seconds for s in result.steps)
        click.echo(
            f"pipeline training ({attempt}): {steps} · {took:.2f}s · run {result.run_id[:16]}"
        )
    click.echo(
        f"  auc {result.value('validate_fit')['auc']:.4f} (setpoint pipeline explain {result.run_id})"
    )


def _serve(sp, holdout) -> None:  # type: ignore[no-untyped-def]
    """Serve the champion on a free port for a moment, send it traffic and feedback, and
    read the prediction log back."""
    import statistics

    import httpx

    from setpoint.client.serving import ServeSpec, serving

    spec = ServeSpec(
        model="quickstart-model", project=PROJECT, poll=0, log_interval=3600, access_log=False
    )
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(serving(spec))
        except RuntimeError as exc:
            click.echo(f"serve: {exc}", err=True)
            return
        frame = holdout.to_pandas()
        columns = [c for c in frame.columns if c.startswith("x")]
        times, version = [], ""
        with httpx.Client(base_url=url) as http:
            for i in range(50):
                row = frame[columns][i : i + 1]
                body = {
                    "id": f"qs-{i}",
                    "inputs": [
                        {"name": c, "shape": [1], "datatype": "FP64", "data": row[c].tolist()}
                        for c in columns
                    ],
                }
                t0 = time.perf_counter()
                answer = http.post("/v2/models/quickstart-model/infer", json=body).json()
                times.append(time.perf_counter() - t0)
                version = answer["model_version"]
            batch = {
                "dataframe_split": {"columns": columns, "data": frame[columns][:64].values.tolist()}
            }
            predictions = http.post("/invocations", json=batch).json()["predictions"]
            labels = frame["label"][:50].tolist()
            http.post(
                "/feedback",
                json={
                    "feedback": [
                        {"request_id": f"qs-{i}", "label": int(v)} for i, v in enumerate(labels)
                    ]
                },
            )
    log = sp.prediction_log("quickstart-model", project=PROJECT)
    correct = log.dropna(subset=["label"])
    accuracy = float((correct["prediction"] == correct["label"]).mean()) if len(correct) else 0.0
    click.echo(
        f"served quickstart-model@champion (version {version}) on {url}: 50 one-row requests, "
        f"p50 {statistics.median(times) * 1000:.1f} ms; one of 64 rows ({sum(predictions)} "
        "positive)"
    )
    click.echo(
        f"  prediction log: {len(log)} rows; with feedback on 50, accuracy {accuracy:.2f} "
        "(sp.prediction_log('quickstart-model'))"
    )


@click.command()
@click.option("--epochs", default=60, show_default=True, type=click.IntRange(1, 10_000))
def quickstart(epochs: int) -> None:
    """Run a small tracked experiment end to end on this machine."""
    import setpoint as sp
    from setpoint.cli.output import table
    from setpoint.client import sdk

    t0 = time.perf_counter()
    c = sdk.client()
    click.echo(f"setpoint quickstart · {c.describe()}")
    X, y, Xv, yv = _data()
    frame = _frame(X, y, seed=7)
    data = sp.log_dataset(frame, name="training-data", project=PROJECT, description="generated")
    state = "versioned" if data.created else "unchanged, reused"
    profile = data.profile
    assert profile is not None  # every table version is profiled when it is logged
    nulls = sum(c["nulls"] for c in profile["columns"])
    click.echo(
        f"data: {data.ref} ({data.num_rows} rows, {state}); profiled: "
        f"{len(profile['columns'])} columns, {nulls} nulls"
    )
    _check_data(sp, data)
    grid = [(0.05, 0.0), (0.2, 0.0), (0.5, 0.001), (1.0, 0.01)]
    weights = {}
    with sp.start_run(project=PROJECT, name="sweep", tags={"kind": "sweep"}) as parent:
        for lr, l2 in grid:
            with sp.start_run(
                project=PROJECT,
                name=f"logreg-lr{lr}",
                tags={"model": "logistic-regression"},
                parent_id=parent.id,
            ) as run:
                run.log_input(data)
                run.log_params(
                    {"learning_rate": lr, "l2": l2, "epochs": epochs, "features": X.shape[1]}
                )
                w, auc, acc = _train(run, X, y, Xv, yv, lr, epochs, l2)
                weights[run.id] = [float(v) for v in w]
                run.log_metrics({"auc": auc, "accuracy": acc})
                run.log_dict({"weights": [float(v) for v in w], "bias": 0.0}, "model/weights.json")
                with tempfile.TemporaryDirectory() as tmp:
                    report = Path(tmp) / "report.md"
                    report.write_text(f"# logreg lr={lr}\n\nAUC {auc:.4f}, accuracy {acc:.4f}\n")
                    run.log_artifact(report)
        parent.log_metric("runs", len(grid))

    best = sp.search_runs(
        project=PROJECT,
        filter="metrics.auc > 0.5 and tags.model = 'logistic-regression'",
        order_by=["metrics.auc desc"],
        max_results=len(grid),
    )
    table(
        "runs by validation AUC (sp.search_runs)",
        ["run", "learning_rate", "l2", "auc", "accuracy"],
        [
            (
                r["name"],
                r["params.learning_rate"],
                r["params.l2"],
                r["metrics.auc"],
                r["metrics.accuracy"],
            )
            for _, r in best.iterrows()
        ],
    )
    top = best.iloc[0]
    hist = sp.get_metric_history(top["run_id"], "loss")
    click.echo(
        f"best: {top['name']} (run {top['run_id'][:16]}); loss went "
        f"{hist['value'].iloc[0]:.4f} -> {hist['value'].iloc[-1]:.4f} over {len(hist)} steps"
    )
    holdout = sp.log_dataset(_frame(Xv, yv, seed=9), name="holdout", project=PROJECT)
    ranked = [r for r in best["run_id"] if r in weights]  # this sweep's runs
    runs = {
        "baseline": (ranked[-1], weights[ranked[-1]]),
        "best": (ranked[0], weights[ranked[0]]),
        # a model that ignores most features: what a broken training job produces
        "weakest": (ranked[-1], [v if i < 1 else 0.0 for i, v in enumerate(weights[ranked[-1]])]),
    }
    _registry(sp, runs, frame, data, holdout)
    _pipeline(sp, epochs)
    _serve(sp, holdout)
    from setpoint.cli.quickstart_loop import run_loop

    run_loop()
    click.echo(f"done in {time.perf_counter() - t0:.1f}s. Next:")
    click.echo(f"  setpoint runs list --project {PROJECT}")
    click.echo(f"  setpoint data profile {data.ref} --html profile.html")
    click.echo(f"  setpoint data validations {PROJECT}/incoming@1")
    click.echo(f"  setpoint runs show {top['run_id'][:16]}")
    click.echo(f"  setpoint models history quickstart-model --alias champion --project {PROJECT}")
    click.echo(f"  setpoint models card {PROJECT}/quickstart-model@champion --html card.html")
    click.echo(f"  setpoint audit list --project {PROJECT}")
    click.echo(
        "  setpoint server   # the web UI at http://127.0.0.1:8000/; "
        "SETPOINT_URL=http://127.0.0.1:8000 for the SDK"
    )
    click.echo(f"  setpoint serve {PROJECT}/quickstart-model@champion --port 8080")
    click.echo(f"  setpoint monitor status fraud-live --project {PROJECT}")
