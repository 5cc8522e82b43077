"""Users and their roles per project (viewer < editor < approver < admin); "*" grants a role
in every project. The server checks these on every request when it runs with ``--auth``."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update

from setpoint.core import names
from setpoint.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from setpoint.core.types import ROLES, User
from setpoint.store.metadata.tables import role_grants, users

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from setpoint.core.clock import Clock
    from setpoint.governance.audit import AuditLog
    from setpoint.store.metadata.database import Database

RANK = {role: i for i, role in enumerate(ROLES)}
EVERY_PROJECT = "*"


def allows(role: str | None, needed: str) -> bool:
    """Whether ``role`` includes ``needed`` (an admin may do what an approver may, ...)."""
    return role is not None and RANK[role] >= RANK[needed]


class Users:
    def __init__(self, db: Database, clock: Clock, audit: AuditLog) -> None:
        self.db = db
        self.clock = clock
        self.audit = audit

    def create(self, name: str, actor: str | None = None) -> User:
        names.check_name(name, "name")
        now = self.clock.now_ms()

        def tx(conn: Connection) -> None:
            if conn.execute(select(users.c.id).where(users.c.name == name)).first():
                raise ConflictError(f"a user named {name!r} exists already", field="name")
            conn.execute(insert(users).values(name=name, created_at=now))
            self.audit.append(
                conn, actor=actor, action="user.create", subject_kind="user", subject=name
            )

        self.db.write_retrying(tx)
        return self.get(name)

    def get(self, name: str) -> User:
        found = [u for u in self.list() if u.name == name]
        if not found:
            raise NotFoundError(f"no user named {name!r}", field="name")
        return found[0]

    def list(self) -> list[User]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(users.c.id, users.c.name, users.c.created_at, users.c.disabled_at).order_by(
                    users.c.name
                )
            ).all()
            grants: dict[int, dict[str, str]] = {}
            for uid, project, role in conn.execute(
                select(role_grants.c.user_id, role_grants.c.project, role_grants.c.role)
            ):
                grants.setdefault(uid, {})[project] = role
        return [
            User(
                name=r[1],
                created_at=r[2],
                disabled_at=r[3],
                roles=dict(sorted(grants.get(r[0], {}).items())),
            )
            for r in rows
        ]

    def disable(self, name: str, actor: str | None = None) -> None:
        """Disable a user: their tokens stop working; their past actions stay attributed."""

        def tx(conn: Connection) -> None:
            changed = conn.execute(
                update(users)
                .where(users.c.name == name, users.c.disabled_at.is_(None))
                .values(disabled_at=self.clock.now_ms())
            ).rowcount
            if not changed:
                raise NotFoundError(f"no active user named {name!r}", field="name")
            self.audit.append(
                conn, actor=actor, action="user.disable", subject_kind="user", subject=name
            )

        self.db.write_retrying(tx)

    def grant(self, name: str, project: str, role: str, actor: str | None = None) -> User:
        """Give ``name`` ``role`` in ``project`` ("*": every project), replacing a previous one."""
        if role not in ROLES:
            raise InvalidArgumentError(
                f"role must be one of {', '.join(ROLES)}; got {role!r}", field="role"
            )
        if project != EVERY_PROJECT:
            names.check_name(project, "project")

        def tx(conn: Connection) -> None:
            uid = self._id(conn, name)
            before = _granted(conn, uid, project)
            conn.execute(
                delete(role_grants).where(
                    role_grants.c.user_id == uid, role_grants.c.project == project
                )
            )
            conn.execute(
                insert(role_grants).values(
                    user_id=uid, project=project, role=role, created_at=self.clock.now_ms()
                )
            )
            self.audit.append(
                conn,
                actor=actor,
                action="user.grant",
                project=None if project == EVERY_PROJECT else project,
                subject_kind="user",
                subject=name,
                before=None if before is None else {"project": project, "role": before},
                after={"project": project, "role": role},
            )

        self.db.write_retrying(tx)
        return self.get(name)

    def revoke(self, name: str, project: str, actor: str | None = None) -> User:
        """Take away ``name``'s role in ``project``."""

        def tx(conn: Connection) -> None:
            uid = self._id(conn, name)
            before = _granted(conn, uid, project)
            if before is None:
                raise NotFoundError(f"{name} has no role in {project!r}", field="project")
            conn.execute(
                delete(role_grants).where(
                    role_grants.c.user_id == uid, role_grants.c.project == project
                )
            )
            self.audit.append(
                conn,
                actor=actor,
                action="user.revoke",
                project=None if project == EVERY_PROJECT else project,
                subject_kind="user",
                subject=name,
                before={"project": project, "role": before},
            )

        self.db.write_retrying(tx)
        return self.get(name)

    def role(self, name: str, project: str | None) -> str | None:
        """The user's highest role in ``project`` (``None``: in every project, i.e. a "*"
        grant); None for an unknown or disabled user."""
        with self.db.read() as conn:
            row = conn.execute(
                select(users.c.id, users.c.disabled_at).where(users.c.name == name)
            ).first()
            if row is None or row[1] is not None:
                return None
            wanted = [EVERY_PROJECT] if project is None else [EVERY_PROJECT, project]
            roles = conn.execute(
                select(role_grants.c.role).where(
                    role_grants.c.user_id == row[0], role_grants.c.project.in_(wanted)
                )
            ).scalars()
            return max(roles, key=RANK.__getitem__, default=None)

    def roles(self, name: str) -> builtins.list[str]:
        """Every role an enabled user holds, in any project (empty for unknown or disabled)."""
        with self.db.read() as conn:
            return list(
                conn.execute(
                    select(role_grants.c.role)
                    .join(users, users.c.id == role_grants.c.user_id)
                    .where(users.c.name == name, users.c.disabled_at.is_(None))
                ).scalars()
            )

    def _id(self, conn: Connection, name: str) -> int:
        uid = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
        if uid is None:
            raise NotFoundError(f"no user named {name!r}", field="name")
        return int(uid)


def _granted(conn: Connection, user_id: int, project: str) -> str | None:
    return conn.execute(
        select(role_grants.c.role).where(
            role_grants.c.user_id == user_id, role_grants.c.project == project
        )
    ).scalar()
