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
    events = p.call(
        "list_audit_events",
        **filters,
        limit=PAGE_SIZE + 1,
        before_seq=before,
        newest_first=True,
    )
    more = len(events) > PAGE_SIZE
    events = events[:PAGE_SIZE]
    verdict = p.call("verify_audit") if p.arg("verify") == "1" else None
    return render(
        p,
        "audit.html",
        events=events,
        filters=filters,
        projects=p.call("list_projects"),
        older=p.with_query(before=events[-1].seq) if more and events else None,
        newer=p.with_query(before=None) if before else None,
        verdict=verdict,
    )
