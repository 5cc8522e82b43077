"""Which records a listing shows: ``active`` (not deleted), ``deleted`` or ``all``.

Deleting a run, a project or a model version erases nothing: it sets ``deleted_at``, and
listings leave such records out unless asked for them.
"""

from __future__ import annotations

from setpoint.core.errors import InvalidArgumentError

LIFECYCLES = {"active": False, "deleted": True, "all": None}


def deleted_filter(lifecycle: str) -> bool | None:
    """``active``, ``deleted`` or ``all`` as a filter on being deleted (None: no filter)."""
    if lifecycle not in LIFECYCLES:
        raise InvalidArgumentError(
            f"lifecycle must be one of active, deleted, all; got {lifecycle!r}",
            field="lifecycle",
        )
    return LIFECYCLES[lifecycle]
