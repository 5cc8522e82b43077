"""Assemble a model card from what the store knows about a version (both SDK modes)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from setpoint.core.errors import SetpointError
from setpoint.core.types import ModelVersion


def model_card(client: Any, version: ModelVersion) -> dict[str, Any]:
    """The card's facts: the version, its run, training data, evaluations, gates, approvals,
    alias moves, and the ``intended_use`` / ``limitations`` tags."""
    from setpoint.data.versions import parse_ref

    run = None
    datasets = []
    if version.run_id is not None:
        run = client.get_run(version.run_id)
        for edge in client.get_lineage("run", version.run_id):
            if edge.relation != "consumed" or edge.target_kind != "dataset_version":
                continue
            project, name, number = parse_ref(edge.target_id, field="dataset")
            try:
                dv = client.get_dataset_version(name, project, number)
            except SetpointError:
                continue  # lineage may name a version the caller cannot read
            nulls = None
            if dv.profile_digest is not None:
                from setpoint.client.datasets import VersionHandle

                profile = VersionHandle(dv, client).profile or {}
                nulls = sum(c.get("nulls", 0) for c in profile.get("columns", []))
            datasets.append(
                {
                    "ref": dv.ref,
                    "rows": dv.num_rows,
                    "columns": len(dv.schema),
                    "nulls": nulls,
                    "digest": dv.digest,
                }
            )
    moves = [
        m
        for m in client.alias_history(version.name, version.project)
        if version.version in (m.from_version, m.to_version)
    ]
    meta = version.meta
    return {
        "version": {
            "ref": version.ref,
            "flavor": version.flavor,
            "unsafe": bool(meta.get("unsafe")),
            "status": version.status,
            "aliases": version.aliases,
            "created_at": version.created_at,
            "creator": version.creator,
            "size": version.size,
            "digest": version.digest,
            "description": version.description,
            "signature": meta.get("signature"),
            "requirements": meta.get("requirements"),
            "tags": version.tags,
        },
        "intended_use": version.tags.get("intended_use", ""),
        "limitations": version.tags.get("limitations", ""),
        "run": _plain(run),
        "datasets": datasets,
        "evaluations": [
            _plain(e)
            for e in client.list_evaluations(version.name, version.version, version.project)
        ],
        "promotions": [
            _plain(p)
            for p in client.list_promotions(version.name, version.version, version.project)
        ],
        "approvals": [
            _plain(a) for a in client.list_approvals(version.name, version.version, version.project)
        ],
        "moves": [_plain(m) for m in moves],
        "generated_at": int(time.time() * 1000),
    }


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return obj
