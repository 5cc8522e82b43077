"""Standard steps for the lifecycle (``sp.steps``): ingest, validate, evaluate, register and
promote, so that a retraining pipeline is a dozen lines::

    @sp.pipeline(project="fraud")
    def retrain(source: str):
        data = sp.steps.ingest(source, "transactions")
        sp.steps.validate(data, "checks/transactions.yaml")
        model = train(data)                                  # your own step
        sp.steps.evaluate(model, data, "is_fraud")
        sp.steps.register_and_promote(model, "fraud-detector", "champion")   # gates apply
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from setpoint.pipelines.dag import step


# Never cached: what a path holds can change while the path stays the same. Unchanged data
# is cheap anyway (the stat cache, and the same version comes back), and its content hash
# is what the next steps' keys see, so they stay cached.
@step(cache=False)
def ingest(source: str, name: str) -> pd.DataFrame:
    """Version ``source`` (a CSV/Parquet file, folder or glob) as dataset ``name`` in the
    pipeline's project, and pass its rows on."""
    from setpoint.client import sdk

    run = sdk.active_run()
    v = sdk.log_dataset(source, name, project=run.project if run else None)
    if run is not None:
        run.log_input(v)
    return v.to_pandas()


@step(cache=False)  # the suite is a file: its checks can change under the same path
def validate(data: pd.DataFrame, suite: str, environment: str = "training") -> dict:
    """Check ``data`` against a YAML suite; a failing ``error`` check stops the pipeline."""
    from setpoint.client import sdk
    from setpoint.core.errors import PipelineError

    report = sdk.validate(data, suite, environment=environment, record=False)
    summary = {"passed": report.passed, "errors": report.errors, "warnings": report.warnings}
    if not report.passed:
        failed = "; ".join(f"{c['check']} {c.get('column') or ''}".strip() for c in report.failed)
        raise PipelineError(f"the data failed validation: {failed}", field="data")
    return summary


@step
def evaluate(model: object, data: pd.DataFrame, target: str) -> dict:
    """Standard metrics of ``model`` on ``data`` (its ``target`` column held out)."""
    from setpoint.models.evaluation import evaluate as compute

    features = data.drop(columns=[target])
    proba = getattr(model, "predict_proba", None)
    _, metrics, _ = compute(
        model.predict,  # type: ignore[attr-defined]
        proba if callable(proba) else None,
        features,
        data[target].to_numpy(),
        importance=False,
        classes=getattr(model, "classes_", None),
    )
    return {k: v for k, v in metrics.items() if v is not None}


@step(cache=False)  # an action, not a computation: it runs every time
def register(model: object, name: str) -> dict:
    """Register ``model`` as the next version of ``name`` (produced by this step's run),
    leaving promotion to someone else (a CI workflow's gate, a reviewer)."""
    from setpoint.client import sdk

    mv = sdk.log_model(model, name)
    return {"version": mv.ref}


@step(cache=False)  # an action, not a computation: it runs every time
def register_and_promote(model: object, name: str, alias: str = "champion") -> dict:
    """Register ``model`` as the next version of ``name`` (produced by this step's run) and
    promote it to ``alias`` through the alias's gates; a refusal is reported, not raised."""
    from setpoint.client import sdk
    from setpoint.core import names
    from setpoint.core.errors import PromotionRefusedError
    from setpoint.models.registry import check_alias

    names.check_name(name, "name")  # before a version is registered
    check_alias(alias)
    mv = sdk.log_model(model, name)
    gates: list[dict[str, Any]]
    try:
        result = sdk.promote(mv.ref, to=alias, reason="pipeline")
        promoted, gates = True, result.gates
    except PromotionRefusedError as exc:
        promoted, gates = False, exc.promotion.gates  # type: ignore[attr-defined]
    return {
        "version": mv.ref,
        "promoted": promoted,
        "gates": [{"rule": g["rule"], "passed": g["passed"]} for g in gates],
    }
