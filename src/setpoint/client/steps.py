"""Standard steps for the lifecycle (``sp.steps``): ingest, validate, evaluate, register and
promote, so that a retraining pipeline is a dozen lines::

    @sp.pipeline(project="fraud")
    def retrain(source: str):
        data = sp.steps.ingest(source, "transactions")
        sp.steps.validate(data, "checks/transactions.yaml")
        model = train(data)                                  # your own step
        sp.steps.evaluate(model, data, "is_fraud")
        sp.steps.register_and_promote(                       # gates apply
            model, "fraud-detector", "champion", data=data, target="is_fraud"
        )
"""

from __future__ import annotations

import math
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
def validate(data: object, suite: str, environment: str = "training") -> dict:
    """Check ``data`` against a YAML suite; a failing ``error`` check stops the pipeline.
    Data from a step is checked as the dataset version that step stored, and the result is
    kept with it (what a ``data_validation`` gate reads)."""
    from setpoint.client import sdk
    from setpoint.core.errors import PipelineError

    version = _dataset_version("data")
    checked = data if version is None else sdk.get_dataset(version)
    report = sdk.validate(checked, suite, environment=environment, record=version is not None)
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
    """Register ``model`` as a version of ``name`` (see :func:`_registered`: a package an
    earlier run registered is that version again), leaving promotion to someone else (a CI
    workflow's gate, a reviewer)."""
    from setpoint.core import names

    names.check_name(name, "name")
    mv, registered = _registered(model, name)
    return {"version": mv.ref, "registered": registered}


def _columns(table: Any) -> list[str]:
    """A pandas, polars or Arrow table's column names."""
    names = getattr(table, "column_names", None)  # Arrow's (its `columns` are the arrays)
    return list(names if names is not None else table.columns)


@step(cache=False)  # an action, not a computation: it runs every time
def register_and_promote(
    model: object,
    name: str,
    alias: str = "champion",
    data: object = None,  # a table of any library: the dataset version it is stored as
    target: str | None = None,
    slices: list[str] | None = None,
) -> dict:
    """Register ``model`` as a version of ``name`` (see :func:`_registered`: a package an
    earlier run registered is that version again, and one holding ``alias`` is left as it
    is) and promote it to ``alias`` through the alias's gates; a refusal is reported, not
    raised.

    What the gates judge is recorded first: the data the model's training step consumed
    becomes the version's training data (``data_validation`` reads its validations), and
    with ``data`` (a step's table) and ``target``, the version is evaluated on that dataset
    version (``metric``, ``latency_p95_ms``, ``fairness`` on ``slices``), and so is the
    alias's holder when it has no evaluation there yet (``compare``)."""
    from setpoint.client import sdk
    from setpoint.core import names
    from setpoint.core.errors import InvalidArgumentError, PromotionRefusedError
    from setpoint.models.registry import check_alias

    names.check_name(name, "name")  # before a version is registered
    check_alias(alias)
    dataset = _dataset_version("data")
    if (data is None) != (target is None):
        raise InvalidArgumentError("give data and target together, or neither", field="target")
    if data is not None and dataset is None:
        raise InvalidArgumentError(
            "data must be a step's table (a stored dataset version) to evaluate on", field="data"
        )
    if target is not None and data is not None and target not in _columns(data):
        raise InvalidArgumentError(f"data has no column {target!r}", field="target")
    mv, registered = _registered(model, name)
    _inherit_training_data()
    holder = _holder(mv, alias)
    held = holder is not None and holder.version == mv.version
    if dataset is not None and target is not None:
        if registered or not _evaluated(mv, dataset, target, slices or []):
            sdk.evaluate(mv, dataset, target, slices=slices or ())
        # the holder too, unless it has been on this data already: a compare gate has both
        # sides on the same data
        if (
            holder is not None
            and not held
            and not _evaluated(holder, dataset, target, slices or [])
        ):
            sdk.evaluate(holder, dataset, target, slices=slices or ())
    out = {"version": mv.ref, "alias": alias, "registered": registered}
    if not registered and held:
        return {**out, "promoted": True, "held": True, "gates": []}  # nothing to move
    gates: list[dict[str, Any]]
    try:
        result = sdk.promote(mv.ref, to=alias, reason="pipeline")
        promoted, gates = True, result.gates
    except PromotionRefusedError as exc:
        promoted, gates = False, exc.promotion.gates  # type: ignore[attr-defined]
    # each verdict as it is stored with the step's value: exact JSON (a NaN metric observed
    # is no number there)
    verdicts = [{k: _json_number(v) for k, v in g.items()} for g in gates]
    return {**out, "promoted": promoted, "gates": verdicts}


def _registered(model: object, name: str) -> tuple[Any, bool]:
    """The version of ``name`` holding ``model``, and whether this call registered it.

    A model handed over by a step is registered as that step stored it (the same package,
    byte for byte: what was trained and evaluated). When an earlier run registered that
    package as ``name`` already, that version is the answer: a pipeline run again with
    nothing changed registers nothing new, and a version a reviewer rejected (or archived)
    is not made again as a fresh candidate from the same bytes. Any other model is saved
    as the next version."""
    from setpoint.client import sdk
    from setpoint.client.executors import input_record
    from setpoint.core.errors import NotFoundError
    from setpoint.tracking.environment import current_user

    record = input_record("model")
    run = sdk.active_run()
    if record is None or record["kind"] != "model" or run is None:
        return sdk.log_model(model, name), True
    c = sdk.client()
    try:
        versions = c.list_model_versions(name, run.project)
    except NotFoundError:  # the model's first version
        versions = []
    for v in reversed(versions):  # the newest holding it
        if v.digest == record["digest"]:
            return v, False
    mv = c.register_model_version(name, record["digest"], run.project, run.id, actor=current_user())
    return mv, True


def _evaluated(mv: Any, dataset: str, target: str, slices: list[str]) -> bool:
    """Whether ``mv`` has an evaluation on ``dataset`` for ``target`` covering ``slices``."""
    from setpoint.client import sdk

    done = sdk.client().list_evaluations(mv.name, mv.version, mv.project)
    return any(
        e.dataset == dataset
        and e.target == target
        and set(slices) <= set((e.result or {}).get("slices") or {})
        for e in done
    )


def _holder(mv: Any, alias: str) -> Any:
    """The version of ``mv``'s model that ``alias`` points at now, or None."""
    from setpoint.client import sdk
    from setpoint.core.errors import NotFoundError

    try:
        return sdk.client().resolve_alias(mv.name, alias, mv.project)
    except NotFoundError:
        return None


def _json_number(value: Any) -> Any:
    """``value``, or None for a float JSON cannot hold (NaN, an infinity)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _dataset_version(param: str) -> str | None:
    """The dataset version (``project/name@n``) the running step was handed as ``param``."""
    from setpoint.client.executors import input_record

    record = input_record(param)
    return str(record["ref"]) if record is not None and record["kind"] == "dataset" else None


def _inherit_training_data() -> None:
    """Record, on this step's run (the one producing the registered version), the dataset
    versions consumed by the run that produced the ``model`` input (the training step)."""
    from setpoint.client import sdk
    from setpoint.client.executors import input_record

    record = input_record("model")
    run = sdk.active_run()
    if record is None or record["kind"] != "model" or run is None:
        return
    c = sdk.client()
    trained = sdk.get_model_version(record["ref"]).run_id
    for edge in c.get_lineage("run", trained) if trained is not None else []:
        if edge.relation == "consumed" and edge.target_kind == "dataset_version":
            c.add_lineage("run", run.id, "consumed", "dataset_version", edge.target_id)
