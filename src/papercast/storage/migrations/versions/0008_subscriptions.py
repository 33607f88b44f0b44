"""Digest subscriptions: subscribers and their topics.

Revision ID: 0008_subscriptions
Revises: 0007_votes
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_subscriptions"
down_revision = "0007_votes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("name", sa.String(100), server_default="", nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("frequency", sa.String(8), nullable=False),
        sa.Column("send_hour", sa.Integer(), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("link_key", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.String(200), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("suppressed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('unconfirmed', 'confirmed', 'paused', 'unsubscribed', 'suppressed')",
                           name="ck_subscribers_state"),
        sa.CheckConstraint("frequency IN ('daily', 'weekly')", name="ck_subscribers_frequency"),
        sa.CheckConstraint("send_hour BETWEEN 0 AND 23", name="ck_subscribers_send_hour"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL",
                                name="fk_subscribers_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_subscribers"),
    )
    op.create_index("ix_subscribers_email", "subscribers", ["email"], unique=True)
    op.create_index("ix_subscribers_user_id", "subscribers", ["user_id"], unique=True)
    op.create_index("ix_subscribers_state_id", "subscribers", ["state", "id"])
    op.create_table(
        "subscriber_topics",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("query", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE",
                                name="fk_subscriber_topics_subscriber_id_subscribers"),
        sa.PrimaryKeyConstraint("subscriber_id", "position", name="pk_subscriber_topics"),
    )


def downgrade() -> None:
    op.drop_table("subscriber_topics")
    op.drop_table("subscribers")
