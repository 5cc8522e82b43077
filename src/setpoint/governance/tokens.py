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
from setpoint.store.metadata.tables import tokens

if TYPE_CHECKING:
    from setpoint.store.metadata.database import Database


@dataclass(frozen=True, kw_only=True)
class Token:
    name: str
    created_at: int
    revoked_at: int | None = None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def create(self, name: str) -> str:
        """Create a token and return its secret, which is not stored and cannot be shown again."""
        names.check_name(name, "token name")
        secret = new_token_secret()
        with self.db.write() as conn:
            if conn.execute(select(tokens.c.id).where(tokens.c.name == name)).first():
                raise ConflictError(f"a token named {name!r} exists already", field="name")
            conn.execute(
                insert(tokens).values(
                    name=name, secret_hash=_hash(secret), created_at=self.clock.now_ms()
                )
            )
        return secret

    def revoke(self, name: str) -> None:
        with self.db.write() as conn:
            result = conn.execute(
                update(tokens)
                .where(tokens.c.name == name, tokens.c.revoked_at.is_(None))
                .values(revoked_at=self.clock.now_ms())
            )
            if not result.rowcount:
                raise NotFoundError(f"no active token named {name!r}", field="name")

    def list(self) -> list[Token]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(tokens.c.name, tokens.c.created_at, tokens.c.revoked_at).order_by(
                    tokens.c.name
                )
            )
            return [Token(name=r[0], created_at=r[1], revoked_at=r[2]) for r in rows]

    def any_active(self) -> bool:
        with self.db.read() as conn:
            return (
                conn.execute(select(tokens.c.id).where(tokens.c.revoked_at.is_(None))).first()
                is not None
            )

    def verify(self, secret: str) -> str | None:
        """The name of the active token with this secret, or None."""
        with self.db.read() as conn:
            return conn.execute(
                select(tokens.c.name).where(
                    tokens.c.secret_hash == _hash(secret), tokens.c.revoked_at.is_(None)
                )
            ).scalar()
