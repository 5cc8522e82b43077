"""Role checks for ``setpoint server --auth``: every operation needs a role in the project it
touches (viewer to read, editor to write, approver to approve, admin to change gates, force
a promotion or move a guarded alias without them).

The project comes from the operation's arguments: ``project``, the run behind ``run_id``, or
the reference of a dataset or model version; an operation over every project (no project
given) needs the role in every project (a "*" grant).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from setpoint.core.errors import PermissionDeniedError
from setpoint.governance.users import allows
from setpoint.models.reservations import project_of

if TYPE_CHECKING:
    from setpoint.api.operations import OperationSpec
    from setpoint.client.local import LocalClient

CACHE_S = 5.0
CACHE_MAX = 4096
UPLOAD_GRANT_S = 3600.0
# operations on model names reserved before their first version
_RESERVING = frozenset(
    {
        "reserve_model",
        "list_model_reservations",
        "get_model_reservation",
        "update_model_reservation",
        "release_model_reservation",
    }
)
# operations that make their project hold blobs named by digest
_HOLDING = frozenset(
    {
        "create_dataset_version",
        "register_model_version",
        "import_run",
        "record_prediction_log",
        "log_artifacts",
        "log_imported_artifacts",
    }
)


class Authorizer:
    def __init__(self, client: LocalClient) -> None:
        self.client = client
        self._roles: dict[tuple[str, str | None], tuple[float, str | None]] = {}
        self._run_projects: dict[str, str] = {}  # a run never changes project
        # (user, digest) -> until when: bytes a user sent are theirs to refer to, even when
        # another project holds the same bytes already
        self._uploads: dict[tuple[str, str], float] = {}

    def uploaded(self, user: str, digest: str) -> None:
        """Note that ``user`` sent the bytes of ``digest`` (for UPLOAD_GRANT_S seconds)."""
        if len(self._uploads) >= CACHE_MAX:
            del self._uploads[next(iter(self._uploads))]
        self._uploads.pop((user, digest), None)
        self._uploads[(user, digest)] = time.monotonic() + UPLOAD_GRANT_S

    def check(self, user: str, spec: OperationSpec, args: dict[str, Any]) -> None:
        """Raise PermissionDeniedError unless ``user`` may run ``spec`` with ``args``."""
        needed: str = spec.role
        if needed == "any":
            return
        if spec.name == "promote" and args.get("force"):
            needed = "admin"  # forcing past failing gates
        if spec.name in ("set_alias", "rollback_alias") and self._guarded(args):
            needed = "admin"  # a gate-less move of an alias that gates guard
        if spec.name in ("set_model_tags", "register_model_version") and (
            self._stage_of_guarded_model(args)
        ):
            # MLflow's stages (models:/name/Production) are tags: moving one is a gate-less
            # promotion for MLflow's clients when the model's aliases have gates
            needed = "admin"
        if spec.name in ("upload_blob", "has_blob", "download_blob"):
            self._check_blob(user, spec, args)
            return
        if spec.name in _RESERVING:
            # a reserved name belongs to no project until its first version names one
            # (project/name names it at once): an editor there, else in some project
            name = args.get("name")
            project = project_of(name) if isinstance(name, str) else None
            self.require(user, "editor", "see or change registered models with no version", project)
            return
        for project in self._projects(spec, args):
            self._require(user, project, needed, spec)
        # What the call refers to in other projects (a run, a parent, a dataset version) must
        # be readable by the caller too.
        for project in self._references(args):
            self._require(user, project, "viewer", spec)
        if spec.name == "approve":
            self._not_own_version(user, args)
        if spec.name in _HOLDING:
            self._may_refer_to(user, self._named_blobs(spec.name, args))

    def _not_own_version(self, user: str, args: dict[str, Any]) -> None:
        """An approval is a second person's look: the user who registered the version
        cannot give it. A version not found is refused here (404), not let through: it may be
        the caller's own registration, committing meanwhile."""
        from setpoint.core.config import DEFAULT_PROJECT

        found = self.client.registry.get_version(
            str(args.get("project") or DEFAULT_PROJECT),
            str(args.get("name")),
            args.get("version"),  # type: ignore[arg-type]
        )
        if found.creator == user:
            raise PermissionDeniedError(
                f"{user} registered {found.ref}: its approval must come from another approver",
                field="actor",
            )

    def require(self, user: str, needed: str, what: str, project: str | None = None) -> None:
        """Raise PermissionDeniedError unless ``user`` has the ``needed`` role in ``project``
        or, with none given, in some project (for what belongs to no project yet: a blob's
        bytes, an MLflow registered model before its first version)."""
        if project is not None:
            ok, where = allows(self._role(user, project), needed), f"project {project!r}"
        else:
            ok = any(allows(role, needed) for role in self.client.users.roles(user))
            where = "some project"
        if not ok:
            raise PermissionDeniedError(
                f"{user} needs the {needed} role in {where} to {what}", field="project"
            )

    def _check_blob(self, user: str, spec: OperationSpec, args: dict[str, Any]) -> None:
        """Blobs are addressed by content, not by project. Uploading needs the editor role in
        some project (the version that will use the blob is checked when it is made), and so
        does asking whether the store holds a blob (a writer's question before referring to
        it); reading needs the viewer role in a project that references the blob."""
        if spec.name == "upload_blob":
            self.require(user, "editor", "upload")
            return
        if spec.name == "has_blob":
            self.require(user, "editor", "ask whether a blob is held")
            return
        from setpoint.store.metadata.references import projects_of_digest

        with self.client.db.read() as conn:
            holders = projects_of_digest(conn, str(args.get("digest", "")))
        if not any(allows(self._role(user, p), "viewer") for p in holders) and not allows(
            self._role(user, None), "viewer"
        ):
            raise PermissionDeniedError(
                f"{user} may read this blob only through a project that holds it and where "
                "they have the viewer role",
                field="digest",
            )

    def _may_refer_to(self, user: str, digests: list[str]) -> None:
        """A version, run or log that refers to a blob makes its project hold the blob, and
        so readable to that project's viewers: the caller must be able to read each blob
        already, or have sent its bytes (one no project holds yet is a fresh upload)."""
        from setpoint.store.metadata.references import projects_of_digest

        if allows(self._role(user, None), "viewer"):
            return
        now = time.monotonic()
        with self.client.db.read() as conn:
            for digest in dict.fromkeys(digests):
                if self._uploads.get((user, digest), 0.0) > now:
                    continue
                holders = projects_of_digest(conn, digest)
                if holders and not any(allows(self._role(user, p), "viewer") for p in holders):
                    raise PermissionDeniedError(
                        f"{user} may not refer to blob blake3:{digest[:16]}…: projects where "
                        "they have no viewer role hold it",
                        field="digest",
                    )

    def _named_blobs(self, op: str, args: dict[str, Any]) -> list[str]:
        """The digests a holding operation refers to, the files a package or file manifest
        lists included."""
        if op in ("import_run", "log_artifacts", "log_imported_artifacts"):
            refs = (args.get("artifacts" if op == "import_run" else "files") or {}).values()
            found = (
                r.get("digest") if isinstance(r, dict) else getattr(r, "digest", None) for r in refs
            )
            return [d for d in found if isinstance(d, str)]
        out = [d for d in (args.get("digest"), args.get("profile")) if isinstance(d, str)]
        if op == "register_model_version" or (
            op == "create_dataset_version" and args.get("kind") == "files"
        ):
            out += self._listed(out[0]) if out else []
        return out

    def _listed(self, digest: str) -> list[str]:
        """The file digests a manifest blob lists (none when it is not one: the operation
        refuses it itself)."""
        import orjson

        from setpoint.core.errors import SetpointError
        from setpoint.models.registry import MAX_MANIFEST

        try:
            blobs = self.client.blobs
            if blobs.size(digest) > MAX_MANIFEST:
                return []
            files = orjson.loads(blobs.get_bytes(digest))["files"]
            return [str(f["digest"]) for f in files]
        except (SetpointError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return []

    def _require(self, user: str, project: str | None, needed: str, spec: OperationSpec) -> None:
        if not allows(self._role(user, project), needed):
            where = f"project {project!r}" if project is not None else "every project ('*')"
            raise PermissionDeniedError(
                f"{user} needs the {needed} role in {where} to {spec.name.replace('_', ' ')}",
                field="project",
            )

    def _references(self, args: dict[str, Any]) -> list[str]:
        out: list[str | None] = []
        if "project" in args and args.get("run_id"):
            out.append(self._run_project(str(args["run_id"])))
        if args.get("parent_id"):
            out.append(self._run_project(str(args["parent_id"])))
        if isinstance(args.get("dataset"), str):
            out.append(self._node_project("dataset_version", args["dataset"]))
        for ref in args.get("parents") or []:
            if isinstance(ref, str):
                out.append(self._node_project("dataset_version", ref))
        if isinstance(args.get("reference"), str):  # a monitor's reference dataset version
            ref = args["reference"]
            out.append(ref.split("/", 1)[0] if "/" in ref else args.get("project"))
        for ref in args.get("consumed_runs") or []:
            if isinstance(ref, str):
                out.append(self._run_project(ref))
        return [p for p in out if p is not None]

    def _projects(self, spec: OperationSpec, args: dict[str, Any]) -> list[str | None]:
        if spec.name == "create_project":
            return [args["name"]]
        if "project" in args:
            p = args["project"]
            if isinstance(p, list):
                return list(p) or [None]
            return [p]
        if "run_id" in args:
            # an unknown run: no project to check; the operation answers 404 itself
            return [p for p in [self._run_project(str(args["run_id"]))] if p is not None]
        if spec.name == "add_lineage":
            return [
                self._node_project(args["source_kind"], args["source_id"]),
                self._node_project(args["target_kind"], args["target_id"]),
            ]
        if spec.name == "get_lineage":
            return [self._node_project(args["kind"], args["id"])]
        return [None]

    def _node_project(self, kind: str, ident: str) -> str | None:
        if kind == "run":
            return self._run_project(ident)
        if kind == "dataset_version":  # [project/]name@version
            return ident.split("/", 1)[0] if "/" in ident else "default"
        if kind == "model_version" and ident.count("/") == 2:  # project/name/version
            return ident.split("/", 1)[0]
        return None

    def _run_project(self, run_id: str) -> str | None:
        project = self._run_projects.get(run_id)
        if project is None:
            from setpoint.core.errors import RunNotFoundError

            try:
                project = self.client.runs.get_run(run_id).project
            except RunNotFoundError:
                return None  # the operation itself says the run does not exist
            if len(self._run_projects) >= CACHE_MAX:
                self._run_projects.clear()
            self._run_projects[run_id] = project
        return project

    def _role(self, user: str, project: str | None) -> str | None:
        now = time.monotonic()
        hit = self._roles.get((user, project))
        if hit is not None and hit[0] > now:
            return hit[1]
        role = self.client.users.role(user, project)
        if len(self._roles) >= CACHE_MAX:
            self._roles.clear()
        self._roles[(user, project)] = (now + CACHE_S, role)
        return role

    def _stage_of_guarded_model(self, args: dict[str, Any]) -> bool:
        from setpoint.core.config import DEFAULT_PROJECT
        from setpoint.core.errors import SetpointError
        from setpoint.server.mlflow_registry import STAGE

        tags = args.get("tags")
        if not isinstance(tags, dict) or STAGE not in tags:
            return False
        try:
            return bool(
                self.client.registry.guarded_aliases(
                    str(args.get("project") or DEFAULT_PROJECT), str(args.get("name"))
                )
            )
        except SetpointError:  # no such model: the operation says so itself
            return False

    def _guarded(self, args: dict[str, Any]) -> bool:
        from setpoint.core.errors import ModelNotFoundError

        try:
            return bool(
                self.client.registry.get_policy(args["project"], args["name"], args["alias"])
            )
        except ModelNotFoundError:
            return False
