"""Paper embeddings: one vector per paper, per-encoder watermarks, and the counter sequencing writes.

Revision ID: 0002_embeddings
Revises: 0001_catalog
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_embeddings"
down_revision = "0001_catalog"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_embeddings",
        sa.Column("paper_id", sa.String(80), nullable=False),
        sa.Column("model_id", sa.String(120), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=False),
        sa.Column("embedding_seq", sa.BigInteger(), nullable=False),
        sa.Column("embedded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE",
                                name="fk_paper_embeddings_paper_id_papers"),
        sa.PrimaryKeyConstraint("paper_id", name="pk_paper_embeddings"),
    )
    op.create_index("ix_paper_embeddings_embedding_seq", "paper_embeddings", ["embedding_seq"], unique=True)
    op.create_table(
        "embedding_watermarks",
        sa.Column("model_id", sa.String(120), nullable=False),
        sa.Column("through_change_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model_id", name="pk_embedding_watermarks"),
    )
    op.bulk_insert(
        sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.BigInteger)),
        [{"name": "embedding_seq", "value": 0}],
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM counters WHERE name = 'embedding_seq'"))
    op.drop_table("embedding_watermarks")
    op.drop_table("paper_embeddings")
