"""Experiment tracking: runs, metrics, params, tags, artifacts, search and lineage."""
