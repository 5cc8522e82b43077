"""dataset profiles, file manifests and validation results

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dataset_versions") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="table")
        )
        batch.add_column(sa.Column("profile_digest", sa.String(length=64), nullable=True))
    op.create_table(
        "dataset_files",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_dataset_files_version_id_dataset_versions"),
        ),
        sa.PrimaryKeyConstraint("version_id", "path", name=op.f("pk_dataset_files")),
    )
    op.create_index("ix_dataset_files_digest", "dataset_files", ["digest"])
    op.create_table(
        "dataset_validations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("suite", sa.String(length=255), nullable=False),
        sa.Column("suite_digest", sa.String(length=64), nullable=False),
        sa.Column("environment", sa.String(length=128), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("creator", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_dataset_validations_version_id_dataset_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_validations")),
    )
    op.create_index(
        "ix_dataset_validations_version", "dataset_validations", ["version_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_dataset_validations_version", table_name="dataset_validations")
    op.drop_table("dataset_validations")
    op.drop_index("ix_dataset_files_digest", table_name="dataset_files")
    op.drop_table("dataset_files")
    with op.batch_alter_table("dataset_versions") as batch:
        batch.drop_column("profile_digest")
        batch.drop_column("kind")
