"""Serving: a prediction server (Open Inference Protocol and MLflow's scoring shapes) with
micro-batching, hot reload, canary and shadow traffic, and a prediction log."""
