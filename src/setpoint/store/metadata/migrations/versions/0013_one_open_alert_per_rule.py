"""at most one open alert per rule of a monitor (a breach found twice raises one alert)

Alerts stored before statuses (status NULL, read as open) become ``open``; of the open
alerts of one rule, the newest stays open and the older ones are resolved (at the time the
next one was raised), so the unique index can be built.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# alerts of the same rule of the same monitor raised after the one updated
_LATER = (
    "FROM alerts b WHERE b.project_id = alerts.project_id AND b.monitor = alerts.monitor "
    "AND b.rule = alerts.rule AND (b.created_at > alerts.created_at "
    "OR (b.created_at = alerts.created_at AND b.id > alerts.id))"
)


def upgrade() -> None:
    op.execute("UPDATE alerts SET status = 'open' WHERE status IS NULL")
    op.execute(
        f"UPDATE alerts SET status = 'resolved', resolved_at = (SELECT MIN(b.created_at) {_LATER}) "
        f"WHERE status = 'open' AND rule IS NOT NULL "
        f"AND EXISTS (SELECT 1 {_LATER} AND b.status = 'open')"
    )
    op.create_index(
        "ux_alerts_open_rule",
        "alerts",
        ["project_id", "monitor", "rule"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_index("ux_alerts_open_rule", table_name="alerts")
