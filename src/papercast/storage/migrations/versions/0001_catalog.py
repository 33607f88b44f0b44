"""The paper catalog: papers, versions, authors, categories, external signals, cursors, counters.

Revision ID: 0001_catalog
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_catalog"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "papers",
        sa.Column("id", sa.String(80), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("abstract", sa.Text(), nullable=False, server_default=""),
        sa.Column("authors_json", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("categories", sa.Text(), nullable=False, server_default=""),
        sa.Column("primary_category", sa.String(40), nullable=False, server_default=""),
        sa.Column("comments", sa.Text(), nullable=False, server_default=""),
        sa.Column("journal_ref", sa.Text(), nullable=False, server_default=""),
        sa.Column("doi", sa.Text(), nullable=False, server_default=""),
        sa.Column("report_no", sa.Text(), nullable=False, server_default=""),
        sa.Column("license", sa.Text(), nullable=False, server_default=""),
        sa.Column("withdrawn", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("latest_version", sa.Integer(), nullable=True),
        sa.Column("announced_on", sa.Date(), nullable=True),
        sa.Column("sources", sa.Text(), nullable=False, server_default=""),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_papers"),
    )
    op.create_index("ix_papers_change_seq", "papers", ["change_seq"], unique=True)
    op.create_index("ix_papers_announced_on", "papers", ["announced_on"])
    op.create_index("ix_papers_primary_category", "papers", ["primary_category"])
    op.create_table(
        "paper_versions",
        sa.Column("paper_id", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE",
                                name="fk_paper_versions_paper_id_papers"),
        sa.PrimaryKeyConstraint("paper_id", "version", name="pk_paper_versions"),
    )
    op.create_table(
        "paper_authors",
        sa.Column("paper_id", sa.String(80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE",
                                name="fk_paper_authors_paper_id_papers"),
        sa.PrimaryKeyConstraint("paper_id", "position", name="pk_paper_authors"),
    )
    op.create_index("ix_paper_authors_name_key", "paper_authors", ["name_key"])
    op.create_table(
        "paper_categories",
        sa.Column("paper_id", sa.String(80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE",
                                name="fk_paper_categories_paper_id_papers"),
        sa.PrimaryKeyConstraint("paper_id", "position", name="pk_paper_categories"),
    )
    op.create_index("ix_paper_categories_category", "paper_categories", ["category"])
    op.create_table(
        "paper_signals",
        sa.Column("paper_id", sa.String(80), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("upvotes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("comments", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("github_stars", sa.Integer(), nullable=True),
        sa.Column("observed_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE",
                                name="fk_paper_signals_paper_id_papers"),
        sa.PrimaryKeyConstraint("paper_id", "source", name="pk_paper_signals"),
    )
    op.create_table(
        "counters",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_counters"),
    )
    op.create_table(
        "harvest_cursors",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("state_json", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_harvest_cursors"),
    )
    op.bulk_insert(
        sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.BigInteger)),
        [{"name": "paper_change_seq", "value": 0}],
    )


def downgrade() -> None:
    for table in ("harvest_cursors", "counters", "paper_signals", "paper_categories", "paper_authors",
                  "paper_versions", "papers"):
        op.drop_table(table)
