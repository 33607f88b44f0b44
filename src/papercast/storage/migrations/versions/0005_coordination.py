"""Coordination across processes: locks held by running jobs, and turns at remote hosts.

Revision ID: 0005_coordination
Revises: 0004_mail_outbox
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_coordination"
down_revision = "0004_mail_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_locks",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_job_locks"),
    )
    op.create_table(
        "request_turns",
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("free_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("host", name="pk_request_turns"),
    )


def downgrade() -> None:
    op.drop_table("request_turns")
    op.drop_table("job_locks")
