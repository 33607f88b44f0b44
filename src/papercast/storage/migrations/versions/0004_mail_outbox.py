"""The mail outbox: messages waiting to be sent (or sent, or given up) and every state change.

Revision ID: 0004_mail_outbox
Revises: 0003_jobs
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_mail_outbox"
down_revision = "0003_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("message_id", sa.String(250), nullable=False),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("last_smtp_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('queued', 'sending', 'sent', 'failed', 'expired')",
                           name="ck_mail_outbox_state"),
        sa.PrimaryKeyConstraint("id", name="pk_mail_outbox"),
    )
    op.create_index("ix_mail_outbox_idempotency_key", "mail_outbox", ["idempotency_key"], unique=True)
    op.create_index("ix_mail_outbox_message_id", "mail_outbox", ["message_id"], unique=True)
    op.create_index("ix_mail_outbox_state_next_attempt_at", "mail_outbox", ["state", "next_attempt_at"])
    op.create_table(
        "mail_outbox_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("smtp_code", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["outbox_id"], ["mail_outbox.id"], ondelete="CASCADE",
                                name="fk_mail_outbox_events_outbox_id_mail_outbox"),
        sa.PrimaryKeyConstraint("id", name="pk_mail_outbox_events"),
    )
    op.create_index("ix_mail_outbox_events_outbox_id", "mail_outbox_events", ["outbox_id"])


def downgrade() -> None:
    op.drop_table("mail_outbox_events")
    op.drop_table("mail_outbox")
