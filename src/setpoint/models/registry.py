"""The model registry: models, versions (model packages), aliases with history, approvals,
evaluations, policies and gated promotion. Every change is audited in its own transaction.

A version's package is a manifest blob listing its files (``model.json`` among them); the
registry reads the manifest and ``model.json`` itself and checks they agree, so what a
client claims about a package is never taken on trust.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import and_, func, insert, select, update

from setpoint.core import names
from setpoint.core.errors import (
    AliasedError,
    ArtifactNotFoundError,
    ConflictError,
    InvalidArgumentError,
    ModelNotFoundError,
    PermissionDeniedError,
    RunNotFoundError,
)
from setpoint.core.hashing import is_digest
from setpoint.core.lifecycle import deleted_filter
from setpoint.core.types import (
    AliasMove,
    Approval,
    Evaluation,
    LineageEdge,
    Model,
    ModelFile,
    ModelVersion,
    Promotion,
)
from setpoint.data.versions import check_relative_path, parse_ref
from setpoint.models import gates as gates_mod
from setpoint.models.reservations import Reservations
from setpoint.store.metadata import datasets as datasets_repo
from setpoint.store.metadata import runs as runs_repo
from setpoint.store.metadata.statements import execute as _sql
from setpoint.store.metadata.tables import (
    alias_moves,
    model_aliases,
    model_approvals,
    model_evaluations,
    model_files,
    model_policies,
    model_promotions,
    model_versions,
    models,
    projects,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from setpoint.core.clock import Clock
    from setpoint.data.versions import DatasetVersions
    from setpoint.governance.audit import AuditLog
    from setpoint.store.artifacts.blobs import BlobStore
    from setpoint.store.metadata.database import Database

STATUSES = ("candidate", "approved", "rejected", "archived")
REFUSED_STATUSES = ("rejected", "archived")  # promote refuses these (force overrides)
FLAVORS = ("sklearn", "xgboost", "lightgbm", "onnx", "custom", "mlflow")
# loading may unpickle: runs code chosen by whoever wrote it (an MLflow folder may hold a pickle)
UNSAFE_FLAVORS = ("custom", "mlflow")
MAX_MANIFEST = 16 << 20
MAX_META = 16 << 20
PACKAGE_META = "model.json"

_VERSION_COLUMNS = (
    projects.c.name,
    models.c.name,
    model_versions.c.version,
    model_versions.c.digest,
    model_versions.c.size,
    model_versions.c.flavor,
    model_versions.c.meta,
    model_versions.c.run_id,
    model_versions.c.status,
    model_versions.c.description,
    model_versions.c.tags,
    model_versions.c.creator,
    model_versions.c.created_at,
    model_versions.c.id,
    model_versions.c.deleted_at,
)
_VERSION_JOIN = model_versions.join(models, models.c.id == model_versions.c.model_id).join(
    projects, projects.c.id == models.c.project_id
)


MODEL_NAME_COLUMN = 128  # models.name's width


def _policy_aliases(conn: Connection, model_id: int) -> list[str]:
    """The aliases of a model that a policy guards, sorted."""
    found = conn.execute(
        select(model_policies.c.alias).where(model_policies.c.model_id == model_id)
    )
    return sorted(found.scalars().all())


def _policy_text(conn: Connection, model_id: int, alias: str) -> str:
    """The policy text guarding a model's alias ("" when none is set)."""
    found = conn.execute(
        select(model_policies.c.text).where(
            model_policies.c.model_id == model_id, model_policies.c.alias == alias
        )
    ).scalar()
    return str(found or "")


def earlier_target(moves: Iterable[tuple[int | None, str]]) -> tuple[bool, int | None]:
    """Where a rollback takes an alias with these moves (``(to_version, action)``, oldest
    first): ``(False, None)`` when there is no earlier target, else ``(True, version)``, the
    version being None when the alias had been removed. A rollback undoes the latest move not
    itself undone, and a move to the version the alias already held is no step. The registry
    and the web UI's rollback button both ask this."""
    stack: list[int | None] = []
    for to_version, action in moves:
        if action == "rollback":
            if stack:
                stack.pop()
        elif not stack or stack[-1] != to_version:
            stack.append(to_version)
    return (True, stack[-2]) if len(stack) >= 2 else (False, None)


def check_alias(alias: object) -> str:
    """An alias: a name (letters, digits, '_', '-', '.'), at most 64 characters, not a number
    (``name@7`` must never be ambiguous between an alias and a version)."""
    names.check_name(alias, "alias")
    assert isinstance(alias, str)
    if len(alias) > 64 or alias.isdigit() or alias == "latest":
        raise InvalidArgumentError(
            f"alias {alias!r} must be at most 64 characters and neither a number nor 'latest'",
            field="alias",
        )
    return alias


def parse_model_ref(
    ref: str, *, default_project: str | None = "default"
) -> tuple[str | None, str, int | str]:
    """``[project/]name/7``, ``[project/]name@alias`` or ``[project/]name`` (latest) ->
    (project, name, version number or alias; "latest" for the newest version). The project
    is ``default_project`` when the reference names none."""
    if not isinstance(ref, str) or not ref:
        raise InvalidArgumentError("model must be like name/7 or name@champion", field="model")
    body, at, alias = ref.partition("@")
    parts = body.split("/")
    which: int | str = "latest"
    if at:
        which = alias if alias == "latest" else check_alias(alias)
    elif len(parts) > 1 and names.is_whole(parts[-1]):
        which = names.check_version(int(parts[-1]))
        parts = parts[:-1]
    if len(parts) > 2:
        raise InvalidArgumentError(
            f"model {ref!r} must be like [project/]name/7 or [project/]name@alias", field="model"
        )
    project = parts[0] if len(parts) == 2 else default_project
    if project is not None:
        names.check_name(project, "model")
    names.check_name(parts[-1], "model")
    return project, parts[-1], which


class Registry:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        clock: Clock,
        audit: AuditLog,
        datasets: DatasetVersions,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.clock = clock
        self.audit = audit
        self.datasets = datasets
        self.reservations = Reservations(db, clock, audit)
        # Without roles callers name themselves, and a local user approves their own
        # versions; with roles (``setpoint server --auth`` sets this False) an approval is a
        # second authenticated person's look.
        self.creator_may_approve = True

    # ------------------------------------------------------------ models

    def create_model(
        self, project: str, name: str, description: str = "", actor: str | None = None
    ) -> Model:
        """Create a model (or return the existing one of that name)."""
        names.check_name(project, "project")
        names.check_name(name, "name")
        names.check_note(description, "description")
        now = self.clock.now_ms()

        def tx(conn: Connection) -> None:
            self._model_id(conn, project, name, now, actor, description, create=True)

        self.db.write_retrying(tx)
        return self.get_model(project, name)

    def get_model(self, project: str, name: str) -> Model:
        found = self.list_models(project, name)
        if not found:
            raise ModelNotFoundError(f"model {project}/{name} does not exist", field="name")
        return found[0]

    def list_models(self, project: str | None = None, name: str | None = None) -> list[Model]:
        """Models with their latest version number and current aliases, by project and name."""
        latest = (
            select(model_versions.c.model_id, func.max(model_versions.c.version).label("latest"))
            .where(model_versions.c.deleted_at.is_(None))
            .group_by(model_versions.c.model_id)
            .subquery()
        )
        q = (
            select(
                models.c.id,
                projects.c.name,
                models.c.name,
                models.c.description,
                models.c.created_at,
                latest.c.latest,
                models.c.tags,
            )
            .join(projects, projects.c.id == models.c.project_id)
            .outerjoin(latest, latest.c.model_id == models.c.id)
            .where(models.c.deleted_at.is_(None))
            .order_by(projects.c.name, models.c.name)
        )
        if project is not None:
            q = q.where(projects.c.name == project)
        if name is not None:
            q = q.where(models.c.name == name)
        with self.db.read() as conn:
            rows = conn.execute(q).all()
            aliases: dict[int, dict[str, int]] = {}
            if rows:
                alias_rows = conn.execute(
                    select(
                        model_aliases.c.model_id, model_aliases.c.alias, model_versions.c.version
                    )
                    .join(model_versions, model_versions.c.id == model_aliases.c.version_id)
                    .where(model_aliases.c.model_id.in_([r[0] for r in rows]))
                ).all()
                for mid, alias, version in alias_rows:
                    aliases.setdefault(mid, {})[alias] = version
        return [
            Model(
                project=r[1],
                name=r[2],
                description=r[3],
                created_at=r[4],
                latest_version=r[5] or 0,
                aliases=dict(sorted(aliases.get(r[0], {}).items())),
                tags=dict(sorted(orjson.loads(r[6] or "{}").items())),
            )
            for r in rows
        ]

    def update_model(
        self,
        project: str,
        name: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        actor: str | None = None,
    ) -> Model:
        """Replace a model's description and/or set its tags (an empty value removes one).
        Audited with the values before and after."""
        if description is not None:
            names.check_note(description, "description")
        values = names.check_tags(tags)

        def tx(conn: Connection) -> None:
            mid = self._locked_model(conn, project, name)
            row = conn.execute(
                select(models.c.description, models.c.tags).where(models.c.id == mid)
            ).one()
            before_tags = orjson.loads(row[1] or "{}")
            after_tags = {k: v for k, v in {**before_tags, **values}.items() if v != ""}
            changes: dict[str, Any] = {"tags": orjson.dumps(after_tags).decode()}
            before: dict[str, Any] = {k: before_tags.get(k) for k in values}
            after: dict[str, Any] = {k: after_tags.get(k) for k in values}
            if description is not None:
                changes["description"] = description
                before["description"], after["description"] = row[0], description
            conn.execute(update(models).where(models.c.id == mid).values(**changes))
            self.audit.append(
                conn,
                actor=actor,
                action="model.update",
                project=project,
                subject_kind="model",
                subject=f"{project}/{name}",
                before=before,
                after=after,
            )

        self.db.write_retrying(tx)
        return self.get_model(project, name)

    def delete_model(self, project: str, name: str, actor: str | None = None) -> None:
        """Delete a model and its versions, erasing nothing: they leave every listing, and
        the name is free for a new model. Refused while an alias points at a version."""
        now = self.clock.now_ms()

        def tx(conn: Connection) -> None:
            mid = self._locked_model(conn, project, name)
            held = (
                conn.execute(
                    select(model_aliases.c.alias).where(
                        model_aliases.c.model_id == mid, model_aliases.c.version_id.is_not(None)
                    )
                )
                .scalars()
                .all()
            )
            if held:
                raise AliasedError(
                    f"model {project}/{name} still has aliases {', '.join(sorted(held))}: "
                    "remove them first",
                    field="name",
                )
            guarded = _policy_aliases(conn, mid)
            if guarded:
                # Changing a policy is an admin's; deleting the model would drop it, and a new
                # model of the same name would start without gates.
                raise AliasedError(
                    f"model {project}/{name} has promotion policies on "
                    f"{', '.join(guarded)}: an admin removes them first "
                    "(an empty policy)",
                    field="name",
                )
            conn.execute(
                update(model_versions)
                .where(model_versions.c.model_id == mid, model_versions.c.deleted_at.is_(None))
                .values(deleted_at=now)
            )
            # "~" is never in a name, and the id makes it unique; it still fits the column
            suffix = f"~{mid}"
            kept_as = name[: MODEL_NAME_COLUMN - len(suffix)] + suffix
            conn.execute(
                update(models).where(models.c.id == mid).values(name=kept_as, deleted_at=now)
            )
            self.audit.append(
                conn,
                actor=actor,
                action="model.delete",
                project=project,
                subject_kind="model",
                subject=f"{project}/{name}",
                after={"deleted_at": now, "kept_as": kept_as},
            )

        self.db.write_retrying(tx)

    # ------------------------------------------------------------ versions

    def register(
        self,
        project: str,
        name: str,
        digest: str,
        run_id: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        actor: str | None = None,
        version: int | None = None,
    ) -> ModelVersion:
        """Register a stored package (a manifest blob) as the next version of a model, or
        as ``version`` when given: a number no version of the model has had (a deleted one's
        stays used; numbers may leave gaps), ConflictError (field ``version``) otherwise."""
        names.check_name(project, "project")
        names.check_name(name, "name")
        if version is not None:
            names.check_version(version)
        if not isinstance(digest, str) or not is_digest(digest):
            raise InvalidArgumentError("digest must be a BLAKE3 hex digest", field="digest")
        names.check_note(description, "description")
        tag_values = names.check_tags(tags)
        files, meta = self._package(digest)
        flavor = meta.get("flavor")
        if flavor not in FLAVORS:
            raise InvalidArgumentError(
                f"model.json names flavor {flavor!r}; expected one of {', '.join(FLAVORS)}",
                field="digest",
            )
        # Whether loading runs code follows from the flavor, never from what the package says.
        meta = {**meta, "unsafe": flavor in UNSAFE_FLAVORS}
        now = self.clock.now_ms()
        tried: list[bool] = []

        def tx(conn: Connection) -> int:
            if run_id is not None:
                run_project = _run_project(conn, run_id)
                if run_project is None:
                    raise RunNotFoundError(f"run {run_id} does not exist", field="run_id")
                if run_project != project:
                    raise InvalidArgumentError(
                        f"run {run_id} belongs to project {run_project!r}, not {project!r}: "
                        "a version is registered in the project of the run that made it",
                        field="run_id",
                    )
            mid = self._model_id(conn, project, name, now, actor, "", create=True, lock=True)
            # a retry may follow an attempt that committed, only its answer lost (the same
            # package, registrant and moment): that version, not a second one
            done = (
                tried
                and conn.execute(
                    select(model_versions.c.version).where(
                        model_versions.c.model_id == mid,
                        model_versions.c.digest == digest,
                        model_versions.c.created_at == now,
                        model_versions.c.creator.is_(None)
                        if actor is None
                        else model_versions.c.creator == actor,
                        *([] if version is None else [model_versions.c.version == version]),
                    )
                ).scalar()
            )
            if done:
                return int(done)
            tried.append(True)
            if version is None:
                last = conn.execute(
                    select(func.max(model_versions.c.version)).where(
                        model_versions.c.model_id == mid
                    )
                ).scalar()
                number = (last or 0) + 1
                if number > names.MAX_VERSION:  # a version given that number explicitly
                    raise ConflictError(
                        f"model {project}/{name} has version {last}, the highest number a "
                        "version can have: register under a number it has not had",
                        field="version",
                    )
            else:
                taken = conn.execute(
                    select(model_versions.c.deleted_at).where(
                        model_versions.c.model_id == mid, model_versions.c.version == version
                    )
                ).first()
                if taken is not None:
                    was = " (deleted: a number is never used twice)" if taken[0] else ""
                    raise ConflictError(
                        f"model {project}/{name} has a version {version} already{was}",
                        field="version",
                    )
                number = version
            vid = conn.execute(
                insert(model_versions)
                .values(
                    model_id=mid,
                    version=number,
                    digest=digest,
                    size=sum(f.size for f in files),
                    flavor=flavor,
                    meta=orjson.dumps(meta).decode(),
                    run_id=run_id,
                    status="candidate",
                    description=description,
                    tags=orjson.dumps(tag_values).decode(),
                    creator=actor,
                    created_at=now,
                )
                .returning(model_versions.c.id)
            ).scalar_one()
            conn.execute(
                insert(model_files),
                [
                    {"version_id": vid, "path": f.path, "digest": f.digest, "size": f.size}
                    for f in files
                ],
            )
            ref = f"{project}/{name}/{number}"
            if run_id is not None:
                runs_repo.add_edges(
                    conn, [_edge("run", run_id, "produced", "model_version", ref, now)]
                )
            self.audit.append(
                conn,
                actor=actor,
                action="model_version.register",
                project=project,
                subject_kind="model_version",
                subject=ref,
                after={"digest": digest, "flavor": flavor, "run_id": run_id, "status": "candidate"},
            )
            return number

        return self.get_version(project, name, self.db.write_retrying(tx))

    def get_version(self, project: str, name: str, version: int) -> ModelVersion:
        names.check_version(version)
        with self.db.read() as conn:
            return self._get_version(conn, project, name, version)

    def resolve(self, project: str, name: str, alias: str) -> ModelVersion:
        """The version an alias points at (``latest``: the newest version)."""
        if alias == "latest":
            model = self.get_model(project, name)
            if not model.latest_version:
                raise ModelNotFoundError(f"model {project}/{name} has no versions", field="name")
            return self.get_version(project, name, model.latest_version)
        check_alias(alias)
        with self.db.read() as conn:
            held = self._alias_target(conn, project, name, alias)
            if held is None:
                self._require_model(conn, project, name)
                raise ModelNotFoundError(
                    f"model {project}/{name} has no alias {alias!r}", field="alias"
                )
            return held

    def list_versions(
        self, project: str, name: str, lifecycle: str = "active"
    ) -> list[ModelVersion]:
        deleted = deleted_filter(lifecycle)
        where = [projects.c.name == project, models.c.name == name]
        if deleted is not None:
            stamp = model_versions.c.deleted_at
            where.append(stamp.is_not(None) if deleted else stamp.is_(None))
        with self.db.read() as conn:
            self._require_model(conn, project, name)
            rows = conn.execute(
                select(*_VERSION_COLUMNS)
                .select_from(_VERSION_JOIN)
                .where(*where)
                .order_by(model_versions.c.version)
            ).all()
            aliases = self._aliases_by_version(conn, project, name)
        return [_version_record(r, aliases.get(r[13], [])) for r in rows]

    def list_files(self, project: str, name: str, version: int) -> list[ModelFile]:
        with self.db.read() as conn:
            vid = self._version_id(conn, project, name, version)
            rows = conn.execute(
                select(model_files.c.path, model_files.c.digest, model_files.c.size)
                .where(model_files.c.version_id == vid)
                .order_by(model_files.c.path)
            ).all()
        return [ModelFile(path=r[0], digest=r[1], size=r[2]) for r in rows]

    def set_status(
        self, project: str, name: str, version: int, status: str, actor: str | None = None
    ) -> ModelVersion:
        if status not in STATUSES:
            raise InvalidArgumentError(
                f"status must be one of {', '.join(STATUSES)}; got {status!r}", field="status"
            )

        def tx(conn: Connection) -> None:
            vid = self._version_id(conn, project, name, version)
            before = conn.execute(
                select(model_versions.c.status).where(model_versions.c.id == vid)
            ).scalar_one()
            conn.execute(
                update(model_versions).where(model_versions.c.id == vid).values(status=status)
            )
            self.audit.append(
                conn,
                actor=actor,
                action="model_version.status",
                project=project,
                subject_kind="model_version",
                subject=f"{project}/{name}/{version}",
                before={"status": before},
                after={"status": status},
            )

        self.db.write_retrying(tx)
        return self.get_version(project, name, version)

    def set_tags(
        self,
        project: str,
        name: str,
        version: int,
        tags: Mapping[str, str],
        actor: str | None = None,
    ) -> ModelVersion:
        """Set (or, with an empty value, remove) tags of a version, e.g. the model card's
        ``intended_use`` and ``limitations``. Audited with the values before and after."""
        values = names.check_tags(tags)

        def tx(conn: Connection) -> None:
            vid = self._version_id(conn, project, name, version)
            before = orjson.loads(
                conn.execute(
                    select(model_versions.c.tags).where(model_versions.c.id == vid)
                ).scalar_one()
            )
            after = {k: v for k, v in {**before, **values}.items() if v != ""}
            conn.execute(
                update(model_versions)
                .where(model_versions.c.id == vid)
                .values(tags=orjson.dumps(after).decode())
            )
            self.audit.append(
                conn,
                actor=actor,
                action="model_version.tags",
                project=project,
                subject_kind="model_version",
                subject=f"{project}/{name}/{version}",
                before={k: before.get(k) for k in values},
                after={k: after.get(k) for k in values},
            )

        self.db.write_retrying(tx)
        return self.get_version(project, name, version)

    def update_version(
        self,
        project: str,
        name: str,
        version: int,
        description: str,
        actor: str | None = None,
    ) -> ModelVersion:
        """Replace a version's description (its package stays as it is). Audited."""
        names.check_note(description, "description")

        def tx(conn: Connection) -> None:
            vid = self._version_id(conn, project, name, version)
            before = conn.execute(
                select(model_versions.c.description).where(model_versions.c.id == vid)
            ).scalar_one()
            conn.execute(
                update(model_versions)
                .where(model_versions.c.id == vid)
                .values(description=description)
            )
            self.audit.append(
                conn,
                actor=actor,
                action="model_version.update",
                project=project,
                subject_kind="model_version",
                subject=f"{project}/{name}/{version}",
                before={"description": before},
                after={"description": description},
            )

        self.db.write_retrying(tx)
        return self.get_version(project, name, version)

    def delete_version(
        self, project: str, name: str, version: int, actor: str | None = None
    ) -> None:
        """Delete a version, erasing nothing: it leaves listings and cannot be loaded, aliased
        or promoted; its number is never given again. Refused while an alias points at it."""
        now = self.clock.now_ms()

        def tx(conn: Connection) -> None:
            self._locked_model(conn, project, name)
            vid = self._version_id(conn, project, name, version)
            held = (
                conn.execute(select(model_aliases.c.alias).where(model_aliases.c.version_id == vid))
                .scalars()
                .all()
            )
            if held:
                raise AliasedError(
                    f"{', '.join(sorted(held))} of {project}/{name} point at version {version}: "
                    "move them first",
                    field="version",
                )
            conn.execute(
                update(model_versions).where(model_versions.c.id == vid).values(deleted_at=now)
            )
            self.audit.append(
                conn,
                actor=actor,
                action="model_version.delete",
                project=project,
                subject_kind="model_version",
                subject=f"{project}/{name}/{version}",
                after={"deleted_at": now},
            )

        self.db.write_retrying(tx)

    # ------------------------------------------------------------ aliases

    def set_alias(
        self,
        project: str,
        name: str,
        alias: str,
        version: int | None,
        actor: str | None = None,
        reason: str = "",
    ) -> AliasMove:
        """Point ``alias`` at ``version`` (None removes it), with no gates. Audited."""
        check_alias(alias)
        if version is not None:
            names.check_version(version)
        names.check_note(reason, "reason")
        return self.db.write_retrying(
            lambda conn: self._move(
                conn, project, name, alias, version, "set" if version else "remove", actor, reason
            )
        )

    def history(self, project: str, name: str, alias: str | None = None) -> list[AliasMove]:
        """Every move of one alias (or of all the model's aliases), oldest first."""
        if alias is not None:
            check_alias(alias)  # a malformed one has no history: say so, not []
        with self.db.read() as conn:
            mid = self._require_model(conn, project, name)
            q = select(
                alias_moves.c.alias,
                alias_moves.c.from_version,
                alias_moves.c.to_version,
                alias_moves.c.action,
                alias_moves.c.forced,
                alias_moves.c.actor,
                alias_moves.c.reason,
                alias_moves.c.created_at,
            ).where(alias_moves.c.model_id == mid)
            if alias is not None:
                q = q.where(alias_moves.c.alias == alias)
            rows = conn.execute(q.order_by(alias_moves.c.id)).all()
        return [
            AliasMove(
                project=project,
                name=name,
                alias=r[0],
                from_version=r[1],
                to_version=r[2],
                action=r[3],
                forced=bool(r[4]),
                actor=r[5],
                reason=r[6],
                created_at=r[7],
            )
            for r in rows
        ]

    def rollback(
        self, project: str, name: str, alias: str, actor: str | None = None, reason: str = ""
    ) -> AliasMove:
        """Move ``alias`` back to the version it pointed at before its current one. Repeated
        rollbacks keep walking back (a rollback undoes a move; it is not itself undone)."""
        check_alias(alias)
        names.check_note(reason, "reason")

        def tx(conn: Connection) -> AliasMove:
            mid = self._locked_model(conn, project, name)
            moves = conn.execute(
                select(alias_moves.c.to_version, alias_moves.c.action)
                .where(alias_moves.c.model_id == mid, alias_moves.c.alias == alias)
                .order_by(alias_moves.c.id)
            ).all()
            earlier, target = earlier_target((v, a) for v, a in moves)
            if not earlier:
                raise InvalidArgumentError(
                    f"alias {alias!r} of {project}/{name} has no earlier target to roll back to",
                    field="alias",
                )
            if target is None:  # rolling back would take the alias away from what it serves
                raise InvalidArgumentError(
                    f"alias {alias!r} of {project}/{name} pointed at no version before its "
                    "current one (it had been removed): move it to a version instead",
                    field="alias",
                )
            if _live_version_id(conn, mid, target) is None:
                raise InvalidArgumentError(
                    f"alias {alias!r} of {project}/{name} pointed at version {target} before, "
                    "which is deleted: a rollback cannot step back past a deleted version "
                    "(deleted versions cannot be restored); move the alias to the version you "
                    "want explicitly (promote it, or set the alias to it)",
                    field="alias",
                )
            return self._move(conn, project, name, alias, target, "rollback", actor, reason)

        return self.db.write_retrying(tx)

    # ------------------------------------------------------------ evaluations, approvals

    def record_evaluation(
        self,
        project: str,
        name: str,
        version: int,
        dataset: str,
        target: str,
        task: str,
        metrics: Mapping[str, float | None],
        result: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> Evaluation:
        dp, dn, dv = parse_ref(dataset, field="dataset")
        if dv is None:
            raise InvalidArgumentError(
                "dataset must name a version, like fraud/holdout@3", field="dataset"
            )
        self.datasets.get(dp, dn, dv)
        names.check_key(target, "target")
        if task not in ("classification", "regression"):
            raise InvalidArgumentError(
                "task must be 'classification' or 'regression'", field="task"
            )
        for k, v in metrics.items():
            names.check_key(k, "metrics")
            if not (v is None or names.is_number(v)):
                raise InvalidArgumentError(f"metric {k!r} must be a number", field="metrics")
        _check_result(result or {})
        dataset_ref = f"{dp}/{dn}@{dv}"
        now = self.clock.now_ms()

        def tx(conn: Connection) -> int:
            vid = self._version_id(conn, project, name, version)
            ref = f"{project}/{name}/{version}"
            eid = conn.execute(
                insert(model_evaluations)
                .values(
                    version_id=vid,
                    dataset=dataset_ref,
                    target=target,
                    task=task,
                    metrics=orjson.dumps(dict(metrics)).decode(),
                    result=orjson.dumps(
                        dict(result or {}), option=orjson.OPT_SERIALIZE_NUMPY
                    ).decode(),
                    creator=actor,
                    created_at=now,
                )
                .returning(model_evaluations.c.id)
            ).scalar_one()
            runs_repo.add_edges(
                conn, [_edge("model_version", ref, "consumed", "dataset_version", dataset_ref, now)]
            )
            self.audit.append(
                conn,
                actor=actor,
                action="model_version.evaluate",
                project=project,
                subject_kind="model_version",
                subject=ref,
                after={"dataset": dataset_ref, "metrics": dict(metrics)},
            )
            return int(eid)

        eid = self.db.write_retrying(tx)
        return next(e for e in self.list_evaluations(project, name, version) if e.id == eid)

    def list_evaluations(self, project: str, name: str, version: int) -> list[Evaluation]:
        with self.db.read() as conn:
            vid = self._version_id(conn, project, name, version)
            return _evaluations(conn, vid, f"{project}/{name}/{version}")

    def approve(
        self,
        project: str,
        name: str,
        version: int,
        alias: str,
        actor: str | None = None,
        comment: str = "",
    ) -> Approval:
        """Record that ``actor`` approves ``version`` for ``alias`` (once per person; not
        the version's creator unless ``creator_may_approve``)."""
        check_alias(alias)
        names.check_note(comment, "comment")
        who = actor or "unknown"
        now = self.clock.now_ms()

        def tx(conn: Connection) -> None:
            vid = self._version_id(conn, project, name, version)
            if not self.creator_may_approve and who == self._creator(conn, vid):
                raise PermissionDeniedError(
                    f"{who} registered {project}/{name}/{version}: its approval must come "
                    "from another approver",
                    field="actor",
                )
            added = _sql(
                conn,
                "INSERT INTO model_approvals (version_id, alias, actor, comment, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (version_id, alias, actor) DO NOTHING "
                "RETURNING id",
                (vid, alias, who, comment, now),
            ).first()
            if added is None:
                return  # approved once already: an approval counts once per person
            self.audit.append(
                conn,
                actor=who,
                action="model_version.approve",
                project=project,
                subject_kind="model_version",
                subject=f"{project}/{name}/{version}",
                after={"alias": alias, "comment": comment},
            )

        self.db.write_retrying(tx)
        return next(
            a
            for a in self.list_approvals(project, name, version)
            if a.actor == who and a.alias == alias
        )

    def _creator(self, conn: Connection, vid: int) -> str | None:
        return conn.execute(
            select(model_versions.c.creator).where(model_versions.c.id == vid)
        ).scalar()

    def list_approvals(self, project: str, name: str, version: int) -> list[Approval]:
        ref, rows = self._of_version(
            project,
            name,
            version,
            model_approvals,
            model_approvals.c.alias,
            model_approvals.c.actor,
            model_approvals.c.comment,
            model_approvals.c.created_at,
        )
        return [
            Approval(ref=ref, alias=r[0], actor=r[1], comment=r[2], created_at=r[3]) for r in rows
        ]

    def _of_version(
        self, project: str, name: str, version: int, table: Any, *columns: Any
    ) -> tuple[str, list[Any]]:
        """(the version's ref, ``columns`` of ``table``'s rows about it, oldest first)."""
        with self.db.read() as conn:
            vid = self._version_id(conn, project, name, version)
            rows = conn.execute(
                select(*columns).where(table.c.version_id == vid).order_by(table.c.id)
            ).all()
        return f"{project}/{name}/{version}", list(rows)

    # ------------------------------------------------------------ policies and promotion

    def set_policy(
        self, project: str, name: str, alias: str, text: str, actor: str | None = None
    ) -> str:
        """Store the promotion policy guarding ``alias`` (empty text removes it)."""
        check_alias(alias)
        policy = gates_mod.parse_policy(text)
        held: tuple[str, str, int] | None = None
        if policy.dataset is not None:
            held_project, held_name, held_version = parse_ref(policy.dataset, field="policy")
            if held_version is None:
                raise InvalidArgumentError(
                    "policy dataset must name a version, like fraud/holdout@3", field="policy"
                )
            held = (held_project, held_name, held_version)
        now = self.clock.now_ms()

        def tx(conn: Connection) -> None:
            mid = self._locked_model(conn, project, name)
            if held is not None and datasets_repo.version_id(conn, *held) is None:
                # its gates would refuse every promotion ("no evaluation on ...")
                raise InvalidArgumentError(
                    f"policy dataset {policy.dataset} does not exist", field="policy"
                )
            before = conn.execute(
                select(model_policies.c.text).where(
                    model_policies.c.model_id == mid, model_policies.c.alias == alias
                )
            ).scalar()
            if before is not None:
                conn.execute(
                    model_policies.delete().where(
                        model_policies.c.model_id == mid, model_policies.c.alias == alias
                    )
                )
            if text.strip():
                conn.execute(
                    insert(model_policies).values(
                        model_id=mid, alias=alias, text=text, actor=actor, updated_at=now
                    )
                )
            self.audit.append(
                conn,
                actor=actor,
                action="model.policy",
                project=project,
                subject_kind="model",
                subject=f"{project}/{name}",
                before=None if before is None else {"alias": alias, "policy": before},
                after={"alias": alias, "policy": text if text.strip() else None},
            )

        self.db.write_retrying(tx)
        return text

    def get_policy(self, project: str, name: str, alias: str) -> str:
        """The policy text guarding ``alias`` ("" when none is set)."""
        with self.db.read() as conn:
            return _policy_text(conn, self._require_model(conn, project, name), alias)

    def guarded_aliases(self, project: str, name: str) -> list[str]:
        """The aliases of the model that a policy guards."""
        with self.db.read() as conn:
            return _policy_aliases(conn, self._require_model(conn, project, name))

    def promote(
        self,
        project: str,
        name: str,
        version: int,
        alias: str,
        actor: str | None = None,
        force: bool = False,
        reason: str = "",
        dry_run: bool = False,
    ) -> Promotion:
        """Evaluate the alias's policy for ``version``; move the alias when every gate passes
        (or ``force``, which is recorded as forced). Every attempt is recorded and audited;
        ``moved`` says whether the alias moved (``dry_run`` only evaluates)."""
        check_alias(alias)
        names.check_version(version)
        names.check_note(reason, "reason")
        ref = f"{project}/{name}/{version}"

        def judge(conn: Connection) -> list[dict[str, Any]]:
            # Every read runs on ``conn``: inside the write transaction, a second pooled
            # connection would be waited for while holding one (and the model's lock), so a
            # burst of promotions of one model holding the whole pool stalled until it timed out.
            mid = self._require_model(conn, project, name)
            policy = gates_mod.parse_policy(_policy_text(conn, mid, alias))
            candidate = self._get_version(conn, project, name, version)
            verdicts = gates_mod.evaluate(policy, self._facts(conn, candidate, alias, policy))
            status = candidate.status
            if status in REFUSED_STATUSES:  # an approver said no: no gate outweighs that
                verdicts.insert(
                    0,
                    {
                        "gate": "status",
                        "rule": f"status not in {', '.join(REFUSED_STATUSES)}",
                        "passed": False,
                        "observed": status,
                        "expected": "candidate or approved",
                        "detail": f"version {version} is {status}",
                    },
                )
            return verdicts

        if dry_run:
            with self.db.read() as conn:
                verdicts = judge(conn)
            return Promotion(
                ref=ref,
                alias=alias,
                passed=all(v["passed"] for v in verdicts),
                forced=False,
                moved=False,
                gates=verdicts,
                actor=actor,
                created_at=self.clock.now_ms(),
            )

        def tx(conn: Connection) -> Promotion:
            # The model stays locked from judging to moving: no other move, promotion or
            # policy change of this model can slip in between, so the gates judged the
            # holder and the policy the move replaces.
            self._locked_model(conn, project, name)
            vid = self._version_id(conn, project, name, version)
            verdicts = judge(conn)
            passed = all(v["passed"] for v in verdicts)
            forced = force and not passed
            now = self.clock.now_ms()
            conn.execute(
                insert(model_promotions).values(
                    version_id=vid,
                    alias=alias,
                    passed=passed,
                    forced=forced,
                    result=orjson.dumps(verdicts).decode(),
                    actor=actor,
                    created_at=now,
                )
            )
            if passed or force:
                self._move(
                    conn,
                    project,
                    name,
                    alias,
                    version,
                    "promote",
                    actor,
                    reason,
                    forced=forced,
                    gates=verdicts,
                )
            else:
                self.audit.append(
                    conn,
                    actor=actor,
                    action="model.promote_refused",
                    project=project,
                    subject_kind="model_version",
                    subject=ref,
                    after={
                        "alias": alias,
                        "failed": [v["rule"] for v in verdicts if not v["passed"]],
                    },
                )
            return Promotion(
                ref=ref,
                alias=alias,
                passed=passed,
                forced=forced,
                moved=passed or force,
                gates=verdicts,
                actor=actor,
                created_at=now,
            )

        return self.db.write_retrying(tx)

    def list_promotions(self, project: str, name: str, version: int) -> list[Promotion]:
        ref, rows = self._of_version(
            project,
            name,
            version,
            model_promotions,
            model_promotions.c.alias,
            model_promotions.c.passed,
            model_promotions.c.forced,
            model_promotions.c.result,
            model_promotions.c.actor,
            model_promotions.c.created_at,
        )
        return [
            Promotion(
                ref=ref,
                alias=r[0],
                passed=bool(r[1]),
                forced=bool(r[2]),
                moved=bool(r[1]) or bool(r[2]),
                gates=orjson.loads(r[3]),
                actor=r[4],
                created_at=r[5],
            )
            for r in rows
        ]

    # ------------------------------------------------------------ internals

    def _facts(
        self, conn: Connection, candidate: ModelVersion, alias: str, policy: gates_mod.Policy
    ) -> gates_mod.Facts:
        """What the gates judge about ``candidate`` for ``alias``, read on ``conn`` (the
        promotion's own transaction, or a read)."""
        project, name, version = candidate.project, candidate.name, candidate.version
        vid = self._version_id(conn, project, name, version)
        evaluations = _evaluations(conn, vid, candidate.ref)
        if policy.dataset is not None:
            dp, dn, dv = parse_ref(policy.dataset, field="policy")
            wanted = f"{dp}/{dn}@{dv}"
            evaluations = [e for e in evaluations if e.dataset == wanted]
        evaluation = evaluations[-1] if evaluations else None
        holder = self._alias_target(conn, project, name, alias)
        if holder is not None and holder.version == version:
            holder = None  # re-promoting the holder compares it with nothing
        holder_eval = None
        if holder is not None and evaluation is not None:
            held = self._version_id(conn, project, name, holder.version)
            same = [
                e for e in _evaluations(conn, held, holder.ref) if e.dataset == evaluation.dataset
            ]
            holder_eval = same[-1] if same else None
        approvals = conn.execute(
            select(func.count())
            .select_from(model_approvals)
            .where(model_approvals.c.version_id == vid, model_approvals.c.alias == alias)
        ).scalar_one()
        validations: list[tuple[str, bool | None]] = []
        if candidate.run_id is not None:
            for e in runs_repo.edges_of(conn, "run", candidate.run_id):
                if e.relation == "consumed" and e.target_kind == "dataset_version":
                    dp, dn, dv = parse_ref(e.target_id, field="dataset")
                    assert dv is not None
                    recorded = datasets_repo.list_validations(conn, dp, dn, dv)
                    validations.append((e.target_id, recorded[-1].passed if recorded else None))
        return gates_mod.Facts(
            evaluation=evaluation,
            holder=holder.ref if holder is not None else None,
            holder_evaluation=holder_eval,
            approvals=int(approvals),
            validations=validations,
        )

    def _move(
        self,
        conn: Connection,
        project: str,
        name: str,
        alias: str,
        version: int | None,
        action: str,
        actor: str | None,
        reason: str,
        *,
        forced: bool = False,
        gates: list[dict[str, Any]] | None = None,
    ) -> AliasMove:
        """Move an alias inside a write transaction that locks the model first, so two moves
        of one model queue and each records the true previous target."""
        mid = self._locked_model(conn, project, name)
        vid = None
        if version is not None:
            vid = _live_version_id(conn, mid, version)
            if vid is None:
                raise ModelNotFoundError(
                    f"model {project}/{name} has no version {version}", field="version"
                )
        current = conn.execute(
            select(model_versions.c.version)
            .select_from(
                model_aliases.join(
                    model_versions, model_versions.c.id == model_aliases.c.version_id
                )
            )
            .where(model_aliases.c.model_id == mid, model_aliases.c.alias == alias)
        ).scalar()
        if version is None and current is None:
            raise ModelNotFoundError(
                f"model {project}/{name} has no alias {alias!r}", field="alias"
            )
        now = self.clock.now_ms()
        if version is None:
            conn.execute(
                model_aliases.delete().where(
                    model_aliases.c.model_id == mid, model_aliases.c.alias == alias
                )
            )
        else:
            changed = conn.execute(
                update(model_aliases)
                .where(model_aliases.c.model_id == mid, model_aliases.c.alias == alias)
                .values(version_id=vid, updated_at=now)
            ).rowcount
            if not changed:
                conn.execute(
                    insert(model_aliases).values(
                        model_id=mid, alias=alias, version_id=vid, updated_at=now
                    )
                )
        conn.execute(
            insert(alias_moves).values(
                model_id=mid,
                alias=alias,
                from_version=current,
                to_version=version,
                action=action,
                forced=forced,
                actor=actor,
                reason=reason,
                created_at=now,
            )
        )
        after: dict[str, Any] = {"alias": alias, "version": version, "reason": reason}
        if forced:
            after["forced"] = True
        if gates is not None:
            after["gates"] = [{"rule": g["rule"], "passed": g["passed"]} for g in gates]
        self.audit.append(
            conn,
            actor=actor,
            action=f"alias.{action}",
            project=project,
            subject_kind="model",
            subject=f"{project}/{name}",
            before={"alias": alias, "version": current},
            after=after,
        )
        return AliasMove(
            project=project,
            name=name,
            alias=alias,
            from_version=current,
            to_version=version,
            action=action,
            forced=forced,
            actor=actor,
            reason=reason,
            created_at=now,
        )

    def _package(self, digest: str) -> tuple[list[ModelFile], dict[str, Any]]:
        """The manifest's files and the package's model.json, checked against each other."""
        try:
            if self.blobs.keep(digest) > MAX_MANIFEST:
                raise InvalidArgumentError("the package manifest is too large", field="digest")
            manifest = orjson.loads(self.blobs.get_bytes(digest))
            files = [
                ModelFile(path=str(f["path"]), digest=str(f["digest"]), size=int(f["size"]))
                for f in manifest["files"]
            ]
        except ArtifactNotFoundError:
            raise InvalidArgumentError(
                f"the store holds no blob blake3:{digest}", field="digest"
            ) from None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise InvalidArgumentError(
                f"blob blake3:{digest} is not a model package manifest", field="digest"
            ) from None
        by_path = {}
        for f in files:
            check_relative_path(f.path)
            if not is_digest(f.digest):
                raise InvalidArgumentError(
                    f"manifest digest of {f.path} is malformed", field="digest"
                )
            try:
                held = self.blobs.keep(f.digest) == f.size
            except ArtifactNotFoundError:
                held = False
            if not held:
                raise InvalidArgumentError(
                    f"manifest lists {f.path} as blake3:{f.digest} ({f.size} bytes), "
                    "which the store does not hold",
                    field="digest",
                )
            by_path[f.path] = f
        if len(by_path) != len(files):
            raise InvalidArgumentError("manifest lists a path twice", field="digest")
        if PACKAGE_META not in by_path or by_path[PACKAGE_META].size > MAX_META:
            raise InvalidArgumentError(f"the package has no {PACKAGE_META}", field="digest")
        try:
            meta = orjson.loads(self.blobs.get_bytes(by_path[PACKAGE_META].digest))
        except orjson.JSONDecodeError:
            raise InvalidArgumentError(f"{PACKAGE_META} is not JSON", field="digest") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
            raise InvalidArgumentError(f"{PACKAGE_META} lists no files", field="digest")
        listed = {p: d for p, d in meta["files"].items()}
        held_files = {p: f.digest for p, f in by_path.items() if p != PACKAGE_META}
        if listed != held_files:
            raise InvalidArgumentError(
                f"{PACKAGE_META} and the manifest disagree about the package's files",
                field="digest",
            )
        return sorted(files, key=lambda f: f.path), meta

    def _model_id(
        self,
        conn: Connection,
        project: str,
        name: str,
        now: int,
        actor: str | None,
        description: str,
        *,
        create: bool = False,
        lock: bool = False,
    ) -> int:
        pid = (
            runs_repo.ensure_live_project(conn, project, now)
            if create
            else runs_repo.project_id(conn, project)
        )
        q = select(models.c.id).where(
            models.c.project_id == pid, models.c.name == name, models.c.deleted_at.is_(None)
        )
        if lock and conn.dialect.name != "sqlite":
            q = q.with_for_update()
        mid = conn.execute(q).scalar() if pid is not None else None
        if mid is None:
            if not create:
                raise ModelNotFoundError(f"model {project}/{name} does not exist", field="name")
            # Another writer may create the same model at this moment: the insert yields
            # to it, and the row is read (and locked) again either way.
            created = _sql(
                conn,
                "INSERT INTO models (project_id, name, description, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (project_id, name) DO NOTHING RETURNING id",
                (pid, name, description, now),
            ).first()
            mid = conn.execute(q).scalar_one()
            if created is not None:
                self.audit.append(
                    conn,
                    actor=actor,
                    action="model.create",
                    project=project,
                    subject_kind="model",
                    subject=f"{project}/{name}",
                    after={"description": description},
                )
        return int(mid)

    def _locked_model(self, conn: Connection, project: str, name: str) -> int:
        return self._model_id(conn, project, name, 0, None, "", lock=True)

    def _require_model(self, conn: Connection, project: str, name: str) -> int:
        mid = conn.execute(
            select(models.c.id)
            .join(projects, projects.c.id == models.c.project_id)
            .where(projects.c.name == project, models.c.name == name, models.c.deleted_at.is_(None))
        ).scalar()
        if mid is None:
            raise ModelNotFoundError(f"model {project}/{name} does not exist", field="name")
        return int(mid)

    def _version_id(self, conn: Connection, project: str, name: str, version: int) -> int:
        names.check_version(version)
        mid = self._require_model(conn, project, name)
        vid = _live_version_id(conn, mid, version)
        if vid is None:
            raise ModelNotFoundError(
                f"model {project}/{name} has no version {version}", field="version"
            )
        return int(vid)

    def _aliases_by_version(
        self, conn: Connection, project: str, name: str
    ) -> dict[int, list[str]]:
        mid = self._require_model(conn, project, name)
        out: dict[int, list[str]] = {}
        for alias, vid in conn.execute(
            select(model_aliases.c.alias, model_aliases.c.version_id)
            .where(model_aliases.c.model_id == mid)
            .order_by(model_aliases.c.alias)
        ):
            out.setdefault(vid, []).append(alias)
        return out

    def _get_version(self, conn: Connection, project: str, name: str, version: int) -> ModelVersion:
        row = conn.execute(
            select(*_VERSION_COLUMNS)
            .select_from(_VERSION_JOIN)
            .where(
                projects.c.name == project,
                models.c.name == name,
                model_versions.c.version == version,
                model_versions.c.deleted_at.is_(None),
            )
        ).first()
        if row is None:
            self._require_model(conn, project, name)
            raise ModelNotFoundError(
                f"model {project}/{name} has no version {version}", field="version"
            )
        return self._version(conn, row)

    def _alias_target(
        self, conn: Connection, project: str, name: str, alias: str
    ) -> ModelVersion | None:
        """The version ``alias`` points at, or None."""
        row = conn.execute(
            select(*_VERSION_COLUMNS)
            .select_from(
                _VERSION_JOIN.join(
                    model_aliases,
                    and_(
                        model_aliases.c.model_id == models.c.id,
                        model_aliases.c.version_id == model_versions.c.id,
                    ),
                )
            )
            .where(
                projects.c.name == project,
                models.c.name == name,
                model_aliases.c.alias == alias,
            )
        ).first()
        return None if row is None else self._version(conn, row)

    def _version(self, conn: Connection, row: Any) -> ModelVersion:
        aliases = conn.execute(
            select(model_aliases.c.alias)
            .where(model_aliases.c.version_id == row[13])
            .order_by(model_aliases.c.alias)
        ).scalars()
        return _version_record(row, list(aliases))


def _version_record(row: Any, aliases: list[str]) -> ModelVersion:
    return ModelVersion(
        project=row[0],
        name=row[1],
        version=row[2],
        digest=row[3],
        size=row[4],
        flavor=row[5],
        meta=orjson.loads(row[6]),
        run_id=row[7],
        status=row[8],
        description=row[9],
        tags=orjson.loads(row[10]),
        creator=row[11],
        created_at=row[12],
        aliases=aliases,
        deleted_at=row[14],
    )


def _evaluations(conn: Connection, vid: int, ref: str) -> list[Evaluation]:
    rows = conn.execute(
        select(
            model_evaluations.c.id,
            model_evaluations.c.dataset,
            model_evaluations.c.target,
            model_evaluations.c.task,
            model_evaluations.c.metrics,
            model_evaluations.c.result,
            model_evaluations.c.creator,
            model_evaluations.c.created_at,
        )
        .where(model_evaluations.c.version_id == vid)
        .order_by(model_evaluations.c.id)
    ).all()
    return [
        Evaluation(
            id=r[0],
            ref=ref,
            dataset=r[1],
            target=r[2],
            task=r[3],
            metrics=orjson.loads(r[4]),
            result=orjson.loads(r[5]),
            creator=r[6],
            created_at=r[7],
        )
        for r in rows
    ]


def _run_project(conn: Connection, run_id: str) -> str | None:
    return _sql(  # type: ignore[no-any-return]
        conn,
        "SELECT p.name FROM runs r JOIN projects p ON p.id = r.project_id WHERE r.id = ?",
        (run_id,),
    ).scalar()


def _edge(sk: str, sid: str, rel: str, tk: str, tid: str, now: int) -> LineageEdge:
    return LineageEdge(
        source_kind=sk, source_id=sid, relation=rel, target_kind=tk, target_id=tid, created_at=now
    )


def _check_result(result: Mapping[str, Any]) -> None:
    """The parts of an evaluation's result that gates and cards read have the shapes they
    expect: slices {column: {value: {metric: number}}}, importance {metric, baseline, drop:
    {feature: number}}, a confusion matrix of whole numbers."""

    def bad(what: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"result.{what}", field="result")

    if not isinstance(result, Mapping):
        raise InvalidArgumentError("result must be a JSON object", field="result")
    slices = result.get("slices", {})
    if not isinstance(slices, Mapping):
        raise bad("slices must map a column to its groups")
    for column, groups in slices.items():
        if not isinstance(groups, Mapping):
            raise bad(f"slices.{column} must map each value to its metrics")
        for value, metrics in groups.items():
            if not isinstance(metrics, Mapping) or not all(
                (m is None or names.is_number(m)) for m in metrics.values()
            ):
                raise bad(f"slices.{column}.{value} must map metric names to numbers")
    importance = result.get("importance")
    if importance is not None and (
        not isinstance(importance, Mapping)
        or not isinstance(importance.get("metric"), str)
        or not names.is_number(importance.get("baseline"))
        or not isinstance(importance.get("drop"), Mapping)
        or not all(names.is_number(d) for d in importance["drop"].values())
    ):
        raise bad("importance must be {metric, baseline, drop: {feature: number}}")
    matrix = result.get("confusion_matrix")
    if matrix is not None and (
        not isinstance(matrix, list)
        or not all(isinstance(r, list) and all(isinstance(c, int) for c in r) for r in matrix)
    ):
        raise bad("confusion_matrix must be a list of lists of whole numbers")


def _live_version_id(conn: Connection, model_id: int, version: int) -> int | None:
    """The row id of a model's version that is not deleted, or None."""
    vid = conn.execute(
        select(model_versions.c.id).where(
            model_versions.c.model_id == model_id,
            model_versions.c.version == version,
            model_versions.c.deleted_at.is_(None),
        )
    ).scalar()
    return None if vid is None else int(vid)
