"""setpoint: keep machine-learning models at their setpoint.

The SDK surface. Everything heavy is imported on first use, so ``import setpoint`` stays fast::

    import setpoint as sp
    with sp.start_run(project="fraud", name="baseline") as run:
        run.log_params({"max_depth": 8})
        run.log_metric("loss", 0.3, step=0)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from setpoint.core.version import VERSION as __version__  # noqa: F401

_SDK = {
    "start_run",
    "get_run",
    "search_runs",
    "delete_run",
    "restore_run",
    "get_metric_history",
    "list_projects",
    "create_project",
    "end_run",
    "active_run",
    "client",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_artifact",
    "set_tag",
    "log_dataset",
    "get_dataset",
    "lineage",
    "validate",
    "infer_suite",
    "diff_datasets",
    "log_model",
    "load_model",
    "get_model_version",
    "set_alias",
    "promote",
    "approve",
    "rollback",
    "set_policy",
    "evaluate",
    "autolog",
    "model_card",
    "set_model_tags",
    "run_pipeline",
    "explain_pipeline",
    "sweep",
    "raise_alert",
    "prediction_log",
    "predict_batch",
    "drift",
    "add_monitor",
    "run_monitor",
}

if TYPE_CHECKING:  # pragma: no cover
    from setpoint.client.sdk import (  # noqa: F401
        active_run,
        add_monitor,
        approve,
        autolog,
        client,
        create_project,
        delete_run,
        diff_datasets,
        drift,
        end_run,
        evaluate,
        explain_pipeline,
        get_dataset,
        get_metric_history,
        get_model_version,
        get_run,
        infer_suite,
        lineage,
        list_projects,
        load_model,
        log_artifact,
        log_dataset,
        log_metric,
        log_metrics,
        log_model,
        log_param,
        log_params,
        model_card,
        predict_batch,
        prediction_log,
        promote,
        raise_alert,
        restore_run,
        rollback,
        run_monitor,
        run_pipeline,
        search_runs,
        set_alias,
        set_model_tags,
        set_policy,
        set_tag,
        start_run,
        sweep,
        validate,
    )
    from setpoint.pipelines.dag import Model, pipeline, step  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _SDK:
        from setpoint.client import sdk

        return getattr(sdk, name)
    if name == "steps":
        from setpoint.client import steps

        return steps
    if name in ("step", "pipeline", "Model"):
        from setpoint.pipelines import dag

        return getattr(dag, name)
    if name == "errors":
        from setpoint.core import errors

        return errors
    raise AttributeError(f"module 'setpoint' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SDK, "errors", "step", "pipeline", "steps", "Model"])
