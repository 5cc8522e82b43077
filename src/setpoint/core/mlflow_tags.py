"""MLflow's vocabulary as setpoint keeps it: the tags that make a run an MLflow 3 logged
model (see server/mlflow_models.py), shared by the MLflow API and the MLflow import."""

from __future__ import annotations

LOGGED_MODEL_KIND = "mlflow_model"  # the ``kind`` tag of a run that is a logged model
MODEL_NAME, MODEL_TYPE, SOURCE_RUN, MODEL_STATUS = (
    "mlflow.model_name",
    "mlflow.model_type",
    "mlflow.source_run_id",
    "mlflow.model_status",
)
MODEL_STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")
