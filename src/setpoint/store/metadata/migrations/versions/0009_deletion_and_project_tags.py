"""runs and projects can be deleted and restored; projects carry tags

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("deleted_at", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("deleted_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "project_tags",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_project_tags_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("project_id", "key", name=op.f("pk_project_tags")),
    )


def downgrade() -> None:
    op.drop_table("project_tags")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("deleted_at")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("deleted_at")
