"""The outbox's claim index carries the id too: `(state, next_attempt_at, id)`, the order senders
claim in, so a claim reads one index entry instead of sorting every due message.

Revision ID: 0011_outbox_claim_order
Revises: 0010_recommendations
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0011_outbox_claim_order"
down_revision = "0010_recommendations"
branch_labels = None
depends_on = None

INDEX = "ix_mail_outbox_state_next_attempt_at"


def upgrade() -> None:
    op.drop_index(INDEX, table_name="mail_outbox")
    op.create_index(INDEX, "mail_outbox", ["state", "next_attempt_at", "id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="mail_outbox")
    op.create_index(INDEX, "mail_outbox", ["state", "next_attempt_at"])
