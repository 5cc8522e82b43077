"""Pipelines: typed steps, the DAG a pipeline function builds, and cache keys."""
