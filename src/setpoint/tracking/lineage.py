"""Lineage: typed edges between runs, artifacts and (later) datasets and model versions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from setpoint.core.clock import Clock
from setpoint.core.errors import InvalidArgumentError
from setpoint.core.types import LineageEdge
from setpoint.store.metadata import runs as repo

if TYPE_CHECKING:
    from setpoint.store.metadata.database import Database

KINDS = ("run", "artifact", "dataset_version", "model_version", "prediction_batch", "step")
RELATIONS = ("consumed", "produced", "served_by", "derived_from")
MAX_ID = 200


class Lineage:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def add(
        self, source_kind: str, source_id: str, relation: str, target_kind: str, target_id: str
    ) -> LineageEdge:
        for field, ident in (("source_id", source_id), ("target_id", target_id)):
            if not isinstance(ident, str) or not 1 <= len(ident) <= MAX_ID:
                raise InvalidArgumentError(
                    f"{field} must be a string of 1 to {MAX_ID} characters", field=field
                )
        for field, value, allowed in (
            ("source_kind", source_kind, KINDS),
            ("target_kind", target_kind, KINDS),
            ("relation", relation, RELATIONS),
        ):
            if value not in allowed:
                raise InvalidArgumentError(
                    f"{field} must be one of {', '.join(allowed)}; got {value!r}", field=field
                )
        edge = LineageEdge(
            source_kind=source_kind,
            source_id=source_id,
            relation=relation,
            target_kind=target_kind,
            target_id=target_id,
            created_at=self.clock.now_ms(),
        )
        self.db.write_retrying(lambda conn: repo.add_edges(conn, [edge]))
        return edge

    def of(self, kind: str, ident: str) -> list[LineageEdge]:
        with self.db.read() as conn:
            return repo.edges_of(conn, kind, ident)
