"""The audit log: every lifecycle change, newest first, filtered by project, subject, action
or actor, with the chain's verdict."""

from __future__ import annotations

from fastapi.responses import Response

from setpoint.server.ui.context import Page
from setpoint.server.ui.routing import page, render

PAGE_SIZE = 100


@page("/audit")
def audit(p: Page) -> Response:
    filters = {k: p.arg(k) or None for k in ("project", "subject_kind", "subject", "action", "by")}
    before = p.int_arg("before", 0, low=1) or None
    projects = p.call("list_projects")
    scopes: list[str | None] = [filters.pop("project")]
    if scopes == [None] and not p.may("list_audit_events", project=None):
        # no role in every project: the events of each project the caller may read, merged
        scopes = [pr.name for pr in projects if p.may("list_audit_events", project=pr.name)]
    events = sorted(
        (
            e
            for scope in scopes
            for e in p.call(
                "list_audit_events",
                project=scope,
                **filters,
                limit=PAGE_SIZE + 1,
                before_seq=before,
                newest_first=True,
            )
        ),
        key=lambda e: -e.seq,
    )
    more = len(events) > PAGE_SIZE
    events = events[:PAGE_SIZE]
    verdict = p.call("verify_audit") if p.arg("verify") == "1" else None
    filters["project"] = p.arg("project") or None
    return render(
        p,
        "audit.html",
        events=events,
        filters=filters,
        may_verify=p.may("verify_audit"),
        projects=projects,
        older=p.with_query(before=events[-1].seq) if more and events else None,
        newer=p.with_query(before=None) if before else None,
        verdict=verdict,
    )
