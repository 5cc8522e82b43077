"""The audit trail: an append-only, hash-chained record of every change.

Each event's hash covers its own fields and the previous event's hash, so editing or deleting
a stored event breaks the chain from that event on, and :meth:`AuditLog.verify` names it.
Events are appended inside the transaction of the change they record: the change and its
event commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from blake3 import blake3

from setpoint.core.errors import InvalidArgumentError
from setpoint.core.types import AuditEvent, AuditVerdict
from setpoint.store.metadata.statements import dialect_sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from setpoint.core.clock import Clock
    from setpoint.store.metadata.database import Database

GENESIS = "0" * 64
_UPDATE_HEAD = "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1"
_INSERT = (
    "INSERT INTO audit_events (seq, time, actor, action, project, subject_kind, subject, "
    '"before", "after", prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'
)
MAX_LIST = 10_000


def _fields() -> tuple[Any, ...]:
    """An event's columns in hash order. SQLAlchemy and the tables are imported where a
    statement is built: appending, which every audited change does, runs without them."""
    from setpoint.store.metadata.tables import audit_events as e

    return (
        e.c.seq,
        e.c.time,
        e.c.actor,
        e.c.action,
        e.c.project,
        e.c.subject_kind,
        e.c.subject,
        e.c.before,
        e.c.after,
        e.c.prev_hash,
        e.c.hash,
    )


def event_hash(prev_hash: str, row: tuple[Any, ...]) -> str:
    """The hash of one event: BLAKE3 over the previous hash and the event's stored fields
    (JSON fields hashed as stored, so verification never depends on re-serialising)."""
    return blake3(prev_hash.encode() + b"\n" + orjson.dumps(list(row))).hexdigest()


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


class AuditLog:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def append(
        self,
        conn: Connection,
        *,
        actor: str | None,
        action: str,
        subject_kind: str,
        subject: str,
        project: str | None = None,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
    ) -> int:
        """Append one event in the caller's write transaction; returns its sequence number.

        The head row is locked first (``FOR UPDATE``; SQLite's write transaction already holds
        the database), so concurrent appenders queue and sequence numbers stay gap-free."""
        # The DBAPI cursor of the caller's transaction, with hand-written SQL: this runs inside
        # every audited change (run creation among them), where SQLAlchemy's statement
        # building would cost more than the three statements themselves.
        lock = " FOR UPDATE" if conn.dialect.name != "sqlite" else ""
        style = conn.dialect.paramstyle
        cur = conn.connection.cursor()
        try:
            cur.execute(dialect_sql(f"SELECT seq, hash FROM audit_head WHERE id = 1{lock}", style))
            last = cur.fetchone()
            if last is None:
                raise RuntimeError("the audit head row is missing: the store was not migrated")
            seq = last[0] + 1
            row = (
                seq,
                self.clock.now_ms(),
                actor or "unknown",
                action,
                project,
                subject_kind,
                subject,
                _json(before),
                _json(after),
            )
            digest = event_hash(last[1], row)
            cur.execute(dialect_sql(_INSERT, style), (*row, last[1], digest))
            cur.execute(dialect_sql(_UPDATE_HEAD, style), (seq, digest))
        finally:
            cur.close()
        return seq

    def list(
        self,
        *,
        project: str | None = None,
        subject_kind: str | None = None,
        subject: str | None = None,
        action: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
        by: str | None = None,
        before_seq: int | None = None,
        newest_first: bool = False,
    ) -> list[AuditEvent]:
        """Events in order (or newest first), optionally of one project, subject, action or
        actor (``by``), after ``after_seq`` and before ``before_seq``."""
        if not 1 <= limit <= MAX_LIST:
            raise InvalidArgumentError(f"limit must be within 1..{MAX_LIST}", field="limit")
        from sqlalchemy import select

        from setpoint.store.metadata.tables import audit_events

        q = select(*_fields()).where(audit_events.c.seq > after_seq)
        if before_seq is not None:
            q = q.where(audit_events.c.seq < before_seq)
        if by is not None:
            q = q.where(audit_events.c.actor == by)
        if project is not None:
            q = q.where(audit_events.c.project == project)
        if subject_kind is not None:
            q = q.where(audit_events.c.subject_kind == subject_kind)
        if subject is not None:
            q = q.where(audit_events.c.subject == subject)
        if action is not None:
            q = q.where(audit_events.c.action == action)
        with self.db.read() as conn:
            order = audit_events.c.seq.desc() if newest_first else audit_events.c.seq
            rows = conn.execute(q.order_by(order).limit(limit)).all()
        return [
            AuditEvent(
                seq=r[0],
                time=r[1],
                actor=r[2],
                action=r[3],
                project=r[4],
                subject_kind=r[5],
                subject=r[6],
                before=None if r[7] is None else orjson.loads(r[7]),
                after=None if r[8] is None else orjson.loads(r[8]),
                hash=r[10],
            )
            for r in rows
        ]

    def verify(self) -> AuditVerdict:
        """Recompute the chain from the first event to the head; name the first event that
        was edited, removed or inserted out of order."""
        from sqlalchemy import select

        from setpoint.store.metadata.tables import audit_events, audit_head

        prev = GENESIS
        expected = 1
        count = 0
        with self.db.read() as conn:
            if conn.dialect.name == "postgresql":
                # One snapshot for the head and the events: appends committing meanwhile
                # must not look like a log longer than its head.
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            head_seq, head_hash = conn.execute(
                select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
            ).one()
            result = conn.execution_options(yield_per=5000).execute(
                select(*_fields()).order_by(audit_events.c.seq)
            )
            for r in result:
                seq = r[0]
                if seq != expected:
                    return _bad(count, expected, f"event {expected} is missing")
                if r[9] != prev:
                    return _bad(count, seq, "its link to the previous event does not match")
                digest = event_hash(prev, tuple(r[:9]))
                if digest != r[10]:
                    return _bad(count, seq, "its contents do not match its hash")
                prev = digest
                expected += 1
                count += 1
        if count != head_seq or prev != head_hash:
            return _bad(
                count,
                count + 1 if count < head_seq else head_seq + 1,
                f"the log ends at event {count} but its head records event {head_seq}",
            )
        return AuditVerdict(ok=True, events=count, head=prev)


def _bad(count: int, seq: int, reason: str) -> AuditVerdict:
    return AuditVerdict(ok=False, events=count, first_bad=seq, reason=reason)
