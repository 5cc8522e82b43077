"""Model names reserved before their first version: MLflow's ``create_registered_model``.

A setpoint model lives in a project, and an MLflow registered model made by name alone has
none until its first version names one (the project of the run that made it). Until then its
name, description and tags are kept here, in the store, so that the registered model
outlives the server that made it and every server over the store sees it. The first
version's model takes over what the reservation holds, and the reservation is released.

``project/name`` reserves a name in that project. Each change is audited in its own
transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from setpoint.core import names
from setpoint.core.errors import ConflictError, InvalidArgumentError, ModelNotFoundError
from setpoint.core.types import ModelReservation
from setpoint.store.metadata.statements import execute as _sql
from setpoint.store.metadata.statements import fetch_all

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from setpoint.core.clock import Clock
    from setpoint.governance.audit import AuditLog
    from setpoint.store.metadata.database import Database

_COLUMNS = "name, description, tags, created_at, updated_at"


def check_reserved_name(value: object, field: str = "name") -> str:
    """A reservable name: MLflow's free text (a run name's rules), or ``project/name``."""
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{field} is required", field=field)
    if "/" in value:
        project, rest = value.split("/", 1)
        names.check_name(project, field)
        names.check_run_name(rest, field)
    else:
        names.check_run_name(value, field)
    return value


def project_of(name: str) -> str | None:
    """The project a reserved name names (``project/name``), None for a plain name."""
    return name.split("/", 1)[0] if "/" in name else None


def _checked(tags: Mapping[str, Any] | None) -> dict[str, str]:
    """Checked tags (empty values kept: they remove one); not the tag keeping a registered
    model's name, which its first version sets from the name reserved."""
    if names.MODEL_NAME_TAG in (tags or {}):
        raise InvalidArgumentError(
            f"tag {names.MODEL_NAME_TAG} keeps a registered model's name: it is set from the "
            "name reserved",
            field="tags",
        )
    return names.check_tags(tags)


def _tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    """Checked tags; an empty value is no tag (as everywhere in setpoint)."""
    return {k: v for k, v in sorted(_checked(tags).items()) if v != ""}


def _reservation(row: Any) -> ModelReservation:
    return ModelReservation(
        name=row[0],
        description=row[1],
        tags=orjson.loads(row[2]),
        created_at=row[3],
        updated_at=row[4],
    )


def _not_reserved(name: str) -> ModelNotFoundError:
    return ModelNotFoundError(f"Registered Model with name={name} not found", field="name")


class Reservations:
    def __init__(self, db: Database, clock: Clock, audit: AuditLog) -> None:
        self.db = db
        self.clock = clock
        self.audit = audit

    def reserve(
        self,
        name: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        actor: str | None = None,
    ) -> ModelReservation:
        """Reserve ``name``; ConflictError when it is reserved already (whether a model of
        that name exists is the caller's question: setpoint's model names differ from
        MLflow's)."""
        check_reserved_name(name)
        text, kept = names.check_note(description, "description"), _tags(tags)
        now = self.clock.now_ms()

        def tx(conn: Connection) -> None:
            made = _sql(
                conn,
                f"INSERT INTO model_reservations ({_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING RETURNING name",
                (name, text, orjson.dumps(kept).decode(), now, now),
            ).first()
            if made is None:
                raise ConflictError(f"Registered Model (name={name}) already exists.", field="name")
            self._audit(conn, "model.reserve", name, actor, None, {"description": text, **kept})

        self.db.write_retrying(tx)
        return self.get(name)

    def find(self, name: str) -> ModelReservation | None:
        """The reservation of ``name``, None when there is none."""
        with self.db.read() as conn:
            rows = fetch_all(
                conn, f"SELECT {_COLUMNS} FROM model_reservations WHERE name = ?", (name,)
            )
        return _reservation(rows[0]) if rows else None

    def get(self, name: str) -> ModelReservation:
        found = self.find(name)
        if found is None:
            raise _not_reserved(name)
        return found

    def list_reservations(self) -> list[ModelReservation]:
        """Every reservation, by name."""
        with self.db.read() as conn:
            rows = fetch_all(conn, f"SELECT {_COLUMNS} FROM model_reservations ORDER BY name")
        return [_reservation(r) for r in rows]

    def update(
        self,
        name: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        actor: str | None = None,
    ) -> ModelReservation:
        """Change the description (when given) and tags (merged; an empty value removes one)
        of a reservation."""
        text = None if description is None else names.check_note(description, "description")
        changed = _checked(tags)
        now = self.clock.now_ms()

        def tx(conn: Connection) -> None:
            # locked: two servers changing its tags at once each keep the other's
            lock = "" if conn.dialect.name == "sqlite" else " FOR UPDATE"
            rows = fetch_all(
                conn,
                f"SELECT description, tags FROM model_reservations WHERE name = ?{lock}",
                (name,),
            )
            if not rows:
                raise _not_reserved(name)
            before_text, before_tags = rows[0][0], orjson.loads(rows[0][1])
            after_tags = {k: v for k, v in sorted({**before_tags, **changed}.items()) if v != ""}
            after_text = before_text if text is None else text
            _sql(
                conn,
                "UPDATE model_reservations SET description = ?, tags = ?, updated_at = ? "
                "WHERE name = ?",
                (after_text, orjson.dumps(after_tags).decode(), now, name),
            )
            before = {k: before_tags.get(k) for k in changed}
            after = {k: after_tags.get(k) for k in changed}
            if text is not None:
                before["description"], after["description"] = before_text, after_text
            self._audit(conn, "model.reservation.update", name, actor, before, after)

        self.db.write_retrying(tx)
        return self.get(name)

    def release(self, name: str, actor: str | None = None) -> bool:
        """Release ``name`` (deleted, or taken over by its first version's model); whether
        it was reserved."""

        def tx(conn: Connection) -> bool:
            gone = _sql(
                conn, "DELETE FROM model_reservations WHERE name = ? RETURNING name", (name,)
            ).first()
            if gone is not None:
                self._audit(conn, "model.reservation.release", name, actor, None, None)
            return gone is not None

        return self.db.write_retrying(tx)

    def _audit(
        self,
        conn: Connection,
        action: str,
        name: str,
        actor: str | None,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> None:
        self.audit.append(
            conn,
            actor=actor,
            action=action,
            project=project_of(name),
            subject_kind="model",
            subject=name,
            before=before,
            after=after,
        )
