"""registered models carry tags; models and model versions can be deleted

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("tags", sa.Text(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("deleted_at", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("deleted_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("deleted_at")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("deleted_at")
        batch.drop_column("tags")
