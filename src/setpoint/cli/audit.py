"""``setpoint audit``: read the audit trail and check that nothing in it was changed."""

from __future__ import annotations

import sys

import click

from setpoint.cli.output import client, json_option, print_json, table, when


@click.group()
def audit() -> None:
    """The audit trail: every change, who made it, and a hash chain that shows tampering."""


@audit.command("list")
@click.option("--project", "-p", default=None, help="Only this project.")
@click.option("--subject", default=None, help="Only this subject, e.g. fraud/fraud-detector.")
@click.option("--action", default=None, help="Only this action, e.g. alias.promote.")
@click.option(
    "--after",
    "after_seq",
    type=click.IntRange(0, 2**63 - 1),
    default=0,
    help="Events after this number.",
)
@click.option("--limit", type=int, default=100, show_default=True)
@json_option
def list_events(
    project: str | None,
    subject: str | None,
    action: str | None,
    after_seq: int,
    limit: int,
    as_json: bool,
) -> None:
    """Audit events, oldest first."""
    events = client().list_audit_events(project, None, subject, action, after_seq, limit)
    if as_json:
        print_json(events)
        return
    table(
        f"{len(events)} events",
        ["#", "time (UTC)", "actor", "action", "subject", "change"],
        [
            (
                e.seq,
                when(e.time),
                e.actor,
                e.action,
                e.subject,
                _change(e.before, e.after),
            )
            for e in events
        ],
    )


def _change(before: object, after: object) -> str:
    import orjson

    def text(v: object) -> str:
        return "" if v is None else orjson.dumps(v).decode()[:120]

    if before is None:
        return text(after)
    return f"{text(before)} → {text(after)}"


@audit.command("verify")
@json_option
def verify(as_json: bool) -> None:
    """Recompute the hash chain; exit 1 naming the first event that was changed or removed."""
    verdict = client().verify_audit()
    if as_json:
        print_json(verdict)
    elif verdict.ok:
        click.echo(f"ok: {verdict.events} events, chain intact (head {verdict.head})")
    else:
        click.echo(
            f"TAMPERED: event {verdict.first_bad}: {verdict.reason} "
            f"({verdict.events} events before it are intact)",
            err=True,
        )
    if not verdict.ok:
        sys.exit(1)
