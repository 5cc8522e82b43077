"""``setpoint models``: the registry: versions, aliases, gates, approvals, rollback, history."""

from __future__ import annotations

import sys
from typing import Any

import click

from setpoint.cli.output import actor as _actor
from setpoint.cli.output import (
    client,
    json_option,
    lifecycle_option,
    print_json,
    table,
    when,
    write_file,
)

project_option = click.option(
    "--project", "-p", default=None, help="Project (default: SETPOINT_PROJECT or 'default')."
)


@click.group()
def models() -> None:
    """Registered models: versions, aliases, promotion through gates, approvals, rollback."""


def _project(project: str | None, name: str) -> str:
    """The project of model ``name`` (given, the default one, or the one that has it)."""
    from setpoint.client.models import model_project

    return model_project(client(), name, project)


@models.command("list")
@project_option
@json_option
def list_models(project: str | None, as_json: bool) -> None:
    """Models with their latest version and aliases."""
    found = client().list_models(project)
    if as_json:
        print_json(found)
        return
    table(
        f"{len(found)} models",
        ["project", "name", "latest", "aliases", "created (UTC)"],
        [
            (
                m.project,
                m.name,
                m.latest_version or "",
                ", ".join(f"{a}→{v}" for a, v in m.aliases.items()),
                when(m.created_at),
            )
            for m in found
        ],
    )


@models.command("versions")
@click.argument("name")
@project_option
@lifecycle_option("versions")
@json_option
def versions(name: str, project: str | None, lifecycle: str, as_json: bool) -> None:
    """Every version of model NAME."""
    found = client().list_model_versions(name, _project(project, name), lifecycle)
    if as_json:
        print_json(found)
        return
    table(
        f"{name}: {len(found)} versions",
        ["version", "flavor", "status", "aliases", "run", "created (UTC)", "by"],
        [
            (
                v.version,
                v.flavor,
                "deleted" if v.deleted_at is not None else v.status,
                ", ".join(v.aliases),
                v.run_id or "",
                when(v.created_at),
                v.creator or "",
            )
            for v in found
        ],
    )


@models.command("show")
@click.argument("model")
@json_option
def show(model: str, as_json: bool) -> None:
    """One version: MODEL is name/7, name@alias or name (latest)."""
    from setpoint.client import sdk

    v = sdk.get_model_version(model)
    c = client()
    evaluations = c.list_evaluations(v.name, v.version, v.project)
    if as_json:
        print_json({"version": v, "evaluations": evaluations})
        return
    sig = v.meta.get("signature") or {}
    spec = sig.get("inputs") or []
    if isinstance(spec, dict):  # a tensor: one array of a dtype and shape
        inputs = f"tensor {spec.get('dtype')} {spec.get('shape')}"
    else:
        inputs = ", ".join(f"{i.get('name')} ({i.get('type')})" for i in spec)
    facts = [
        ("version", v.ref),
        (
            "flavor",
            v.flavor
            + ("  (pickle: load only from a store you trust)" if v.meta.get("unsafe") else ""),
        ),
        ("status", v.status),
        ("aliases", ", ".join(v.aliases)),
        ("run", v.run_id or ""),
        ("inputs", inputs),
        ("package", f"{v.size} bytes, blake3 {v.digest[:16]}"),
        ("created", f"{when(v.created_at)} by {v.creator or 'unknown'}"),
        ("description", v.description),
    ]
    for k, val in facts:
        click.echo(f"{k:>12}  {val}")
    for e in evaluations:
        metrics = ", ".join(f"{k}={val:.4g}" for k, val in e.metrics.items() if val is not None)
        click.echo(f"{'evaluation':>12}  {e.dataset} ({e.target}): {metrics}")


@models.command("delete")
@click.argument("model")
@project_option
@click.option("--yes", is_flag=True, help="Needed to delete a whole model with its versions.")
def delete(model: str, project: str | None, yes: bool) -> None:
    """Delete a version (MODEL: name/7) or a whole model (MODEL: name, with --yes), erasing
    nothing: it leaves listings and cannot be loaded or aliased; a model's name is free
    again. Refused while an alias points at what would go."""
    from setpoint.models.registry import parse_model_ref

    given, name, version = parse_model_ref(model, default_project=None)
    where = _project(given or project, name)
    c = client()
    if isinstance(version, int):
        c.delete_model_version(name, version, where, actor=_actor())
        click.echo(f"deleted {where}/{name}/{version}")
    elif version == "latest" and not model.endswith("@latest"):
        if not yes:
            count = len(c.list_model_versions(name, where))
            raise click.UsageError(
                f"this deletes model {where}/{name} and its {count} versions: add --yes "
                f"(or name one version: {name}/N)"
            )
        c.delete_model(name, where, actor=_actor())
        click.echo(f"deleted model {where}/{name} and its versions")
    else:
        raise click.UsageError("MODEL is name/VERSION (one version) or name (the whole model)")


@models.command("alias")
@click.argument("model")
@click.argument("alias")
@click.option("--reason", default="", help="Why (kept in the alias history).")
@click.option("--remove", is_flag=True, help="Remove ALIAS from MODEL (name) instead.")
def set_alias(model: str, alias: str, reason: str, remove: bool) -> None:
    """Point ALIAS at MODEL (name/7) directly, without gates (audited); with --remove, take
    ALIAS away from the model (MODEL: name)."""
    from setpoint.client import sdk

    v = sdk.get_model_version(model)
    target = None if remove else v.version
    move = client().set_alias(v.name, alias, target, v.project, reason, _actor())
    click.echo(
        f"{v.project}/{v.name}@{alias}: {move.from_version or '-'} → {move.to_version or '-'}"
    )


def _gate_table(result: Any) -> None:
    rows = [
        ("pass" if g["passed"] else "FAIL", g["rule"], g["observed"], g["detail"])
        for g in result.gates
    ]
    if rows:
        table(None, ["", "gate", "observed", "detail"], rows)
    else:
        click.echo("no gates guard this alias")


@models.command("promote")
@click.argument("model")
@click.option("--to", "alias", required=True, help="The alias to move, e.g. champion.")
@click.option("--force", is_flag=True, help="Move even if gates fail (admins; audited as forced).")
@click.option("--reason", default="", help="Why (kept in the alias history).")
@click.option("--dry-run", is_flag=True, help="Evaluate the gates without moving anything.")
@json_option
def promote(model: str, alias: str, force: bool, reason: str, dry_run: bool, as_json: bool) -> None:
    """Run ALIAS's gates for MODEL (name/7) and move the alias if every gate passes."""
    from setpoint.client import sdk

    v = sdk.get_model_version(model)
    result = client().promote(v.name, v.version, alias, v.project, force, reason, dry_run, _actor())
    if as_json:
        print_json(result)
    else:
        _gate_table(result)
        if result.moved:
            forced = " (forced past failing gates)" if result.forced else ""
            click.echo(f"promoted {v.ref} to {alias}{forced}")
        elif dry_run:
            click.echo(f"dry run: {v.ref} {'would' if result.passed else 'would not'} be promoted")
        else:
            click.echo(f"refused: {v.ref} was not promoted to {alias}", err=True)
    if not result.moved and not (dry_run and result.passed):
        sys.exit(1)


@models.command("approve")
@click.argument("model")
@click.option("--to", "alias", required=True, help="The alias the approval is for.")
@click.option("--comment", default="", help="What was reviewed.")
def approve(model: str, alias: str, comment: str) -> None:
    """Approve MODEL (name/7) for ALIAS."""
    from setpoint.client import sdk

    v = sdk.get_model_version(model)
    a = client().approve(v.name, v.version, alias, v.project, comment, _actor())
    click.echo(f"{a.actor} approved {v.ref} for {alias}")


@models.command("rollback")
@click.argument("name")
@click.option("--alias", required=True, help="The alias to move back.")
@click.option("--reason", default="", help="Why (kept in the alias history).")
@project_option
def rollback(name: str, alias: str, reason: str, project: str | None) -> None:
    """Move ALIAS of model NAME back to its previous target."""
    project = _project(project, name)
    move = client().rollback_alias(name, alias, project, reason, _actor())
    click.echo(f"{project}/{name}@{alias}: {move.from_version} → {move.to_version}")


@models.command("history")
@click.argument("name")
@click.option("--alias", default=None, help="Only this alias.")
@project_option
@json_option
def history(name: str, alias: str | None, project: str | None, as_json: bool) -> None:
    """Who moved model NAME's aliases, when, and why."""
    moves = client().alias_history(name, _project(project, name), alias)
    if as_json:
        print_json(moves)
        return
    table(
        f"{name}: {len(moves)} alias moves",
        ["time (UTC)", "alias", "from", "to", "action", "by", "reason"],
        [
            (
                when(m.created_at),
                m.alias,
                m.from_version or "-",
                m.to_version or "-",
                m.action + (" (forced)" if m.forced else ""),
                m.actor or "",
                m.reason,
            )
            for m in moves
        ],
    )


@models.command("policy")
@click.argument("name")
@click.option("--alias", required=True, help="The alias the policy guards.")
@click.option("--file", "path", default=None, help="A YAML policy to store ('-' for stdin).")
@click.option("--clear", is_flag=True, help="Remove the policy.")
@project_option
def policy(name: str, alias: str, path: str | None, clear: bool, project: str | None) -> None:
    """Show or set the promotion policy (gates) guarding ALIAS of model NAME."""
    c = client()
    if path is not None and clear:
        raise click.UsageError("give --file (a policy to store) or --clear, not both")
    if path is None:
        text = c.get_policy(name, alias, _project(project, name))
        if not clear:
            click.echo(text.rstrip() if text else f"no policy guards {name}@{alias}")
            return
        if not text:
            click.echo(f"no policy guards {name}@{alias}: nothing to clear")
            return
        text = ""
    elif path == "-":
        text = sys.stdin.read()
    else:
        try:
            with open(path or "", encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise click.ClickException(f"{path} is not UTF-8 text: {exc.reason}") from None
    if path is not None and not text.strip():
        # empty text removes the gates: only on purpose (--clear), never by an empty file
        raise click.ClickException(
            f"{'stdin' if path == '-' else path} is empty: give a policy with gates, or "
            "--clear to remove the policy"
        )
    c.set_policy(name, alias, text, _project(project, name), _actor())
    click.echo(f"{'cleared' if clear else 'stored'} the policy guarding {name}@{alias}")


@models.command("card")
@click.argument("model")
@click.option("--html", "html_path", default=None, help="Also write an offline HTML page here.")
def card(model: str, html_path: str | None) -> None:
    """The model card of MODEL (name/7 or name@alias), as Markdown."""
    from setpoint.client import sdk

    facts = sdk.model_card(model, format="dict")
    from setpoint.models import card as render

    if html_path:
        write_file(html_path, render.to_html(facts))
    click.echo(render.markdown(facts), nl=False)
    if html_path:
        click.echo(f"wrote {html_path}", err=True)


@models.command("tag")
@click.argument("model")
@click.argument("tags", nargs=-1, required=True)
def tag(model: str, tags: tuple[str, ...]) -> None:
    """Set tags of MODEL: KEY=VALUE ... (intended_use and limitations feed the card)."""
    from setpoint.client import sdk

    values = {}
    for item in tags:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="TAGS")
        values[key] = value
    mv = sdk.set_model_tags(model, **values)
    click.echo(f"{mv.ref}: {', '.join(f'{k}={v[:40]}' for k, v in mv.tags.items())}")


@models.command("status")
@click.argument("model")
@click.argument("status", type=click.Choice(["candidate", "approved", "rejected", "archived"]))
def status(model: str, status: str) -> None:
    """Mark MODEL (name/7) candidate, approved, rejected or archived."""
    from setpoint.client import sdk

    v = sdk.get_model_version(model)
    done = client().set_model_status(v.name, v.version, status, v.project, _actor())
    click.echo(f"{done.ref}: {done.status}")
