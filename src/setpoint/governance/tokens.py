"""API tokens for the server: created once (the secret is shown once), stored as a hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update

from setpoint.core import names
from setpoint.core.clock import Clock
from setpoint.core.errors import ConflictError, NotFoundError
from setpoint.core.ids import new_token_secret
from setpoint.store.metadata.tables import tokens, users

if TYPE_CHECKING:
    from setpoint.governance.audit import AuditLog
    from setpoint.store.metadata.database import Database


@dataclass(frozen=True, kw_only=True)
class Token:
    name: str
    created_at: int
    revoked_at: int | None = None
    user: str | None = None  # whom the token acts for


@dataclass(frozen=True, kw_only=True)
class Caller:
    """Who a verified token speaks for: the token's name and its user (None for a token made
    without one; a disabled user's tokens do not verify)."""

    token: str
    user: str | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens:
    def __init__(self, db: Database, clock: Clock, audit: AuditLog) -> None:
        self.db = db
        self.clock = clock
        self.audit = audit

    def create(self, name: str, user: str | None = None, actor: str | None = None) -> str:
        """Create a token (acting for ``user``) and return its secret, which is not stored
        and cannot be shown again."""
        names.check_name(name, "token name")
        secret = new_token_secret()
        with self.db.write() as conn:
            if conn.execute(select(tokens.c.id).where(tokens.c.name == name)).first():
                raise ConflictError(f"a token named {name!r} exists already", field="name")
            uid = None
            if user is not None:
                found = conn.execute(
                    select(users.c.id, users.c.disabled_at).where(users.c.name == user)
                ).first()
                if found is None:
                    raise NotFoundError(
                        f"no user named {user!r}: create it with `setpoint users create`",
                        field="user",
                    )
                if found[1] is not None:  # its token would be refused on every request
                    raise ConflictError(
                        f"user {user!r} is disabled: a token of theirs would not work",
                        field="user",
                    )
                uid = found[0]
            from sqlalchemy.exc import IntegrityError

            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(tokens).values(
                            name=name,
                            secret_hash=_hash(secret),
                            created_at=self.clock.now_ms(),
                            user_id=uid,
                        )
                    )
            except IntegrityError:  # made at the same moment by another writer
                raise ConflictError(
                    f"a token named {name!r} exists already", field="name"
                ) from None
            self.audit.append(
                conn,
                actor=actor,
                action="token.create",
                subject_kind="token",
                subject=name,
                after={"user": user},
            )
        return secret

    def revoke(self, name: str, actor: str | None = None) -> None:
        with self.db.write() as conn:
            result = conn.execute(
                update(tokens)
                .where(tokens.c.name == name, tokens.c.revoked_at.is_(None))
                .values(revoked_at=self.clock.now_ms())
            )
            if not result.rowcount:
                raise NotFoundError(f"no active token named {name!r}", field="name")
            self.audit.append(
                conn, actor=actor, action="token.revoke", subject_kind="token", subject=name
            )

    def list(self) -> list[Token]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(tokens.c.name, tokens.c.created_at, tokens.c.revoked_at, users.c.name)
                .outerjoin(users, users.c.id == tokens.c.user_id)
                .order_by(tokens.c.name)
            )
            return [Token(name=r[0], created_at=r[1], revoked_at=r[2], user=r[3]) for r in rows]

    def any_active(self) -> bool:
        with self.db.read() as conn:
            return (
                conn.execute(select(tokens.c.id).where(tokens.c.revoked_at.is_(None))).first()
                is not None
            )

    def verify(self, secret: str) -> Caller | None:
        """Who the active token with this secret speaks for, or None."""
        with self.db.read() as conn:
            row = conn.execute(
                select(tokens.c.name, users.c.name, users.c.disabled_at)
                .outerjoin(users, users.c.id == tokens.c.user_id)
                .where(tokens.c.secret_hash == _hash(secret), tokens.c.revoked_at.is_(None))
            ).first()
        if row is None or row[2] is not None:
            return None
        return Caller(token=row[0], user=row[1])
