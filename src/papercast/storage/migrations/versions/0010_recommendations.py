"""Recommendations: readers' "not interested" and seed signals, one stored model per reader,
and the papers earlier digests showed each reader.

Revision ID: 0010_recommendations
Revises: 0009_digests
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_recommendations"
down_revision = "0009_digests"
branch_labels = None
depends_on = None


def _reader_paper_keys(table: str) -> list[sa.ForeignKeyConstraint]:
    return [sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                    name=f"fk_{table}_user_id_users"),
            sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE",
                                    name=f"fk_{table}_paper_id_papers")]


def upgrade() -> None:
    op.create_table(
        "reader_signals",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('seed', 'not_interested')", name="ck_reader_signals_kind"),
        *_reader_paper_keys("reader_signals"),
        sa.PrimaryKeyConstraint("user_id", "paper_id", "kind", name="pk_reader_signals"),
    )
    op.create_table(
        "reader_models",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("signal_version", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("fitted_version", sa.BigInteger(), nullable=True),
        sa.Column("model_id", sa.String(120), nullable=True),
        sa.Column("dimension", sa.Integer(), nullable=True),
        sa.Column("weights", sa.LargeBinary(), nullable=True),
        sa.Column("positives", sa.Integer(), server_default="0", nullable=False),
        sa.Column("negatives", sa.Integer(), server_default="0", nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_reader_models_user_id_users"),
        sa.PrimaryKeyConstraint("user_id", name="pk_reader_models"),
    )
    op.create_table(
        "shown_papers",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.String(80), nullable=False),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=False),
        *_reader_paper_keys("shown_papers"),
        sa.PrimaryKeyConstraint("user_id", "paper_id", name="pk_shown_papers"),
    )


def downgrade() -> None:
    for table in ("shown_papers", "reader_models", "reader_signals"):
        op.drop_table(table)
