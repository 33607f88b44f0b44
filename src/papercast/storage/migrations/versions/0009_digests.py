"""Digest deliveries: one row per subscriber and period, the digest's own record beside the
mail outbox's message (which it names by id and idempotency key).

Revision ID: 0009_digests
Revises: 0008_subscriptions
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_digests"
down_revision = "0008_subscriptions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_deliveries",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("papers", sa.Integer(), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("smtp_code", sa.Integer(), nullable=True),
        sa.CheckConstraint("state IN ('queued', 'skipped_empty', 'sent', 'failed', 'expired', 'cancelled')",
                           name="ck_digest_deliveries_state"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE",
                                name="fk_digest_deliveries_subscriber_id_subscribers"),
        sa.PrimaryKeyConstraint("subscriber_id", "period", name="pk_digest_deliveries"),
    )
    op.create_index("ix_digest_deliveries_period_state", "digest_deliveries", ["period", "state"])
    op.create_index("ix_digest_deliveries_state_outbox_id", "digest_deliveries", ["state", "outbox_id"])


def downgrade() -> None:
    op.drop_index("ix_digest_deliveries_state_outbox_id", table_name="digest_deliveries")
    op.drop_index("ix_digest_deliveries_period_state", table_name="digest_deliveries")
    op.drop_table("digest_deliveries")
