"""Models: the registry's models, one model's versions and aliases (history, policies,
rollback), and one version (card, evaluations, gate results, approvals, promote, approve)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi.responses import Response

from setpoint.core.errors import InvalidArgumentError, ModelNotFoundError, PermissionDeniedError
from setpoint.core.names import is_whole
from setpoint.core.types import AliasMove, Model, ModelVersion, Promotion
from setpoint.server.ui.context import OPERATIONS, Page
from setpoint.server.ui.routing import action, page, redirect, render
from setpoint.server.ui.templating import model_url

MAX_VERSIONS = 100  # rows of the versions table (each reads its evaluations)
KEY_METRICS = 4
# Shown first when an evaluation has them; metrics named by a gate come before these.
PREFERRED_METRICS = ("roc_auc", "accuracy", "f1", "r2", "rmse", "mae", "log_loss")
TOP_IMPORTANCE = 10


# ---------------------------------------------------------------- the list


@page("/models")
def models_list(p: Page) -> Response:
    project = p.arg("project")
    projects = p.call("list_projects")
    hidden = 0
    models: list[Model] = []
    if project:
        models = p.call("list_models", project=project)
    else:
        models, hidden = p.across("list_models", [pr.name for pr in projects])
    return render(
        p,
        "models/list.html",
        models=sorted(models, key=lambda m: (m.project, m.name)),
        projects=projects,
        project=project,
        hidden=hidden,
    )


# ---------------------------------------------------------------- one model


@dataclass(frozen=True)
class AliasView:
    """What the model page shows of one alias: its holder, the policy guarding it, and
    where a rollback would take it."""

    alias: str
    holder: int | None
    policy: str
    rules: list[str]
    metrics: list[str]  # the metrics its gates judge
    policy_error: str | None
    rollback_to: int | None
    rollback_refused: str  # why no rollback is offered ("" when one is)
    can_roll_back: bool


@page("/models/{project}/{name}")
def model_page(p: Page) -> Response:
    project, name = p.path_params["project"], p.path_params["name"]
    model = p.call("get_model", name=name, project=project)
    versions = p.call("list_model_versions", name=name, project=project)
    history = p.call("alias_history", name=name, project=project)
    live = {v.version for v in versions}
    aliases = [_alias_view(p, model, history, a, live) for a in _alias_names(model, history)]
    gated = [m for a in aliases for m in a.metrics]
    shown = list(reversed(versions))[:MAX_VERSIONS]  # newest first
    latest = {v.version: _latest_evaluation(p, v) for v in shown}
    metrics = _key_metrics([e.metrics for e in latest.values() if e is not None], gated)
    _done_notice(p, model)
    return render(
        p,
        "models/model.html",
        model=model,
        versions=shown,
        total=len(versions),
        latest=latest,
        metrics=metrics,
        aliases=aliases,
        history=list(reversed(history)),
    )


def _alias_names(model: Model, history: list[AliasMove]) -> list[str]:
    names = set(model.aliases) | {m.alias for m in history}
    return sorted(names)


def _alias_view(
    p: Page, model: Model, history: list[AliasMove], alias: str, live: set[int]
) -> AliasView:
    from setpoint.models import gates

    text = p.call("get_policy", name=model.name, alias=alias, project=model.project)
    policy: list[gates.Gate] = []
    error = None
    try:
        policy = gates.parse_policy(text).gates
    except InvalidArgumentError as exc:
        error = str(exc)
    possible, target, why_not = rollback_target([m for m in history if m.alias == alias], live)
    return AliasView(
        alias=alias,
        holder=model.aliases.get(alias),
        policy=text,
        rules=[g.describe() for g in policy],
        metrics=[
            "latency_p95_ms" if g.kind == "latency_p95_ms" else g.args["metric"]
            for g in policy
            if "metric" in g.args or g.kind == "latency_p95_ms"
        ],
        policy_error=error,
        rollback_to=target,
        rollback_refused=why_not,
        can_roll_back=possible
        and p.may("rollback_alias", name=model.name, alias=alias, project=model.project),
    )


def rollback_target(moves: list[AliasMove], live: set[int]) -> tuple[bool, int | None, str]:
    """Whether a rollback of an alias with these moves would be made, the version it would
    point at, and otherwise why not: the registry's own rule (``earlier_target``), with the
    refusals it makes for a removed alias or a deleted version."""
    from setpoint.models.registry import earlier_target

    earlier, target = earlier_target((m.to_version, m.action) for m in moves)
    if not earlier:
        return False, None, "No earlier target to roll back to."
    if target is None:
        return (
            False,
            None,
            "It pointed at no version before (it had been removed): move it instead.",
        )
    if target not in live:
        return False, target, f"v{target}, which it pointed at before, is deleted: move it instead."
    return True, target, ""


def _latest_evaluation(p: Page, v: ModelVersion) -> Any:
    found = p.call("list_evaluations", name=v.name, version=v.version, project=v.project)
    return found[-1] if found else None


def _key_metrics(all_metrics: list[dict[str, float | None]], gated: list[str]) -> list[str]:
    """A few metric columns: those the gates judge, then common ones, then any others."""
    present = {k for m in all_metrics for k, v in m.items() if v is not None}
    order = [*gated, *PREFERRED_METRICS, *sorted(present)]
    return [k for k in dict.fromkeys(order) if k in present][:KEY_METRICS]


def _done_notice(p: Page, model: Model) -> None:
    """After an action's redirect: say what holds now (from the registry, not the link)."""
    done, alias = p.arg("done"), p.arg("alias")
    if not alias or done not in ("promoted", "rolled-back", "approved"):
        return
    holder = model.aliases.get(alias)
    where = f"v{holder}" if holder is not None else "no version"
    if done == "promoted":
        p.notices.append(f"Promoted: {alias} now points at {where}.")
    elif done == "rolled-back":
        p.notices.append(f"Rolled back: {alias} now points at {where}.")
    else:
        p.notices.append(f"Approval recorded for {alias}.")


# ---------------------------------------------------------------- one version


@page("/models/{project}/{name}/{version}")
def version_page(p: Page) -> Response:
    v = _version(p)
    _done_notice(p, p.call("get_model", name=v.name, project=v.project))
    return _render_version(p, v)


def _version(p: Page) -> ModelVersion:
    project, name = p.path_params["project"], p.path_params["name"]
    text = p.path_params["version"]
    if not is_whole(text) or not 0 < int(text) < 2**31:
        raise ModelNotFoundError(f"{project}/{name} has no version {text!r}", field="version")
    version: ModelVersion = p.call(
        "get_model_version", name=name, version=int(text), project=project
    )
    return version


def _render_version(
    p: Page,
    v: ModelVersion,
    status: int = 200,
    refused: Promotion | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    args = {"name": v.name, "version": v.version, "project": v.project}
    model = p.call("get_model", name=v.name, project=v.project)
    history = p.call("alias_history", name=v.name, project=v.project)
    evaluations = p.call("list_evaluations", **args)
    promotions = p.call("list_promotions", **args)
    approvals = p.call("list_approvals", **args)
    card, card_error = _card(p, v)
    return render(
        p,
        "models/version.html",
        status=status,
        v=v,
        model=model,
        evaluations=evaluations,
        promotions=list(reversed(promotions)),
        approvals=approvals,
        moves=[m for m in reversed(history) if v.version in (m.from_version, m.to_version)],
        aliases=_alias_names(model, history),
        card=card,
        card_error=card_error,
        refused=refused,
        error=error,
        form=form or {},
        may_promote=p.may("promote", **args, alias="champion"),
        may_force=p.may("promote", **args, alias="champion", force=True),
        may_approve=p.may("approve", **args, alias="champion"),
        importance=_importance,
        slice_metrics=_slice_metrics,
    )


def _importance(ev: Any) -> list[tuple[str, float]]:
    drop = (ev.result.get("importance") or {}).get("drop") or {}
    return [(k, float(x)) for k, x in list(drop.items())[:TOP_IMPORTANCE] if x is not None]


def _slice_metrics(groups: dict[str, dict[str, Any]]) -> list[str]:
    """The metric columns of a slice table: every metric a group has, in first-seen order."""
    names = dict.fromkeys(k for g in groups.values() for k in g if k != "count")
    return list(names)


def _card(p: Page, v: ModelVersion) -> tuple[list[Any], str | None]:
    """The model card's sections (the same facts ``setpoint models card`` prints), or why
    it cannot be shown to this caller."""
    from setpoint.client.cards import model_card
    from setpoint.models.card import sections

    try:
        return sections(model_card(AsCaller(p), v)), None
    except PermissionDeniedError as exc:
        return [], str(exc)


class AsCaller:
    """The client interface the SDK's helpers take, with every call made through
    :meth:`Page.call` (so as the page's caller, after the role check), never around it."""

    def __init__(self, p: Page) -> None:
        self._p = p

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        found = OPERATIONS.get(operation)
        if found is None:
            raise AttributeError(operation)
        signature = inspect.signature(found[1])
        p = self._p

        def call(*args: Any, **kwargs: Any) -> Any:
            # Positional arguments as the SDK passes them, named as the role check needs them.
            bound = signature.bind(None, *args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            arguments.pop("self")
            return p.call(operation, **arguments)

        return call


@page("/models/{project}/{name}/{version}/card.md")
def card_markdown(p: Page) -> Response:
    """The model card as a Markdown file (what ``setpoint models card`` prints)."""
    from setpoint.client.cards import model_card
    from setpoint.models.card import markdown

    v = _version(p)
    text = markdown(model_card(AsCaller(p), v))
    filename = quote(f"{v.name}-v{v.version}-card.md", safe="")
    return Response(
        text,
        media_type="text/markdown; charset=utf-8",
        headers={"content-disposition": f"attachment; filename*=UTF-8''{filename}"},
    )


# ---------------------------------------------------------------- actions


@action("/models/{project}/{name}/{version}/promote")
def promote(p: Page) -> Response:
    v = _version(p)
    form = {"alias": p.field("alias", ""), "reason": p.field("reason", "")}
    force = p.field("force", "") == "1"
    try:
        result: Promotion = p.call(
            "promote",
            name=v.name,
            version=v.version,
            project=v.project,
            alias=form["alias"],
            reason=form["reason"],
            force=force,
            actor=None,
        )
    except InvalidArgumentError as exc:
        return _render_version(p, v, status=exc.status, error=str(exc), form=form)
    if not result.moved:
        # The registry kept the refused attempt (and audited it); show which gates failed.
        return _render_version(p, v, status=409, refused=result, form=form)
    return redirect(_after(v, "promoted", result.alias))


@action("/models/{project}/{name}/{version}/approve")
def approve(p: Page) -> Response:
    v = _version(p)
    form = {"approve_alias": p.field("alias", ""), "comment": p.field("comment", "")}
    try:
        p.call(
            "approve",
            name=v.name,
            version=v.version,
            project=v.project,
            alias=form["approve_alias"],
            comment=form["comment"],
            actor=None,
        )
    except InvalidArgumentError as exc:
        return _render_version(p, v, status=exc.status, error=str(exc), form=form)
    return redirect(_after(v, "approved", form["approve_alias"]))


@action("/models/{project}/{name}/aliases/{alias}/rollback")
def rollback(p: Page) -> Response:
    project, name, alias = (p.path_params[k] for k in ("project", "name", "alias"))
    p.call(
        "rollback_alias",
        name=name,
        alias=alias,
        project=project,
        reason=p.field("reason", ""),
        actor=None,
    )
    return redirect(model_url(project, name) + "?" + _query("rolled-back", alias))


def _after(v: ModelVersion, done: str, alias: str) -> str:
    return model_url(v.project, v.name, v.version) + "?" + _query(done, alias)


def _query(done: str, alias: str) -> str:
    return f"done={done}&alias={quote(alias, safe='')}"
