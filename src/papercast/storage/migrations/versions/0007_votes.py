"""Votes, saves and trending: one upvote and one save per reader and paper, the recent actions
rate limits count, each paper's popularity with its stored trending score, and the vote sequence.

The vote sequence is a counter row on SQLite and a sequence on PostgreSQL. Every paper
present gets its popularity row here (its external upvotes from `paper_signals`),
scored with the default parameters, which are recorded; a papercast configured otherwise
scores them again (`papercast trending rescore`, or the worker).

Revision ID: 0007_votes
Revises: 0006_accounts
Create Date: 2026-12-05
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

from papercast.domain.trending import Popularity, TrendingParameters, announced_at

revision = "0007_votes"
down_revision = "0006_accounts"
branch_labels = None
depends_on = None

BACKFILL_BATCH = 5_000


def upgrade() -> None:
    op.create_table(
        "paper_popularity",
        sa.Column("paper_id", sa.String(80), nullable=False),
        sa.Column("upvotes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("saves", sa.Integer(), server_default="0", nullable=False),
        sa.Column("external_upvotes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("points", sa.Float(), server_default="0", nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE",
                                name="fk_paper_popularity_paper_id_papers"),
        sa.PrimaryKeyConstraint("paper_id", name="pk_paper_popularity"),
    )
    op.create_table(
        "trending_parameters",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("parameters_json", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_trending_parameters"),
    )
    for name in ("votes", "saves"):
        op.create_table(
            name,
            sa.Column("user_id", sa.Integer(), nullable=False),
            sa.Column("paper_id", sa.String(80), nullable=False),
            sa.Column("counted", sa.Boolean(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                    name=f"fk_{name}_user_id_users"),
            sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE",
                                    name=f"fk_{name}_paper_id_papers"),
            sa.PrimaryKeyConstraint("user_id", "paper_id", name=f"pk_{name}"),
        )
        op.create_index(f"ix_{name}_paper_id", name, ["paper_id"])
    op.create_index("ix_saves_user_id_created_at", "saves", ["user_id", "created_at"])
    op.create_table(
        "vote_actions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("address_hash", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_vote_actions_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_vote_actions"),
    )
    op.create_index("ix_vote_actions_user_id_at", "vote_actions", ["user_id", "at"])
    op.create_index("ix_vote_actions_address_hash_at", "vote_actions", ["address_hash", "at"])
    op.create_index("ix_vote_actions_at", "vote_actions", ["at"])
    if op.get_bind().dialect.name == "postgresql":
        # Votes move it after their commit without a lock (storage/popularity.py).
        op.execute("CREATE SEQUENCE vote_seq")
    else:
        op.bulk_insert(
            sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.BigInteger)),
            [{"name": "vote_seq", "value": 0}],
        )
    _backfill(TrendingParameters())
    # After the backfill: one index build instead of an index update per row.
    op.create_index("ix_paper_popularity_trending", "paper_popularity", ["score", "announced_at", "paper_id"],
                    sqlite_where=sa.text("points > 0"), postgresql_where=sa.text("points > 0"))
    op.create_index("ix_paper_popularity_announced_at", "paper_popularity", ["announced_at", "points"])


def _backfill(parameters: TrendingParameters) -> None:
    """A popularity row for every paper, in batches by id (bounded memory on any catalog)."""
    connection = op.get_bind()
    papers = sa.table("papers", sa.column("id", sa.String), sa.column("announced_on", sa.Date),
                      sa.column("created_at", sa.DateTime(timezone=True)))
    signals = sa.table("paper_signals", sa.column("paper_id", sa.String), sa.column("upvotes", sa.Integer))
    popularity = sa.table("paper_popularity", *(sa.column(name) for name in (
        "paper_id", "upvotes", "saves", "external_upvotes", "points", "announced_at", "score")))
    external = (sa.select(sa.func.sum(signals.c.upvotes)).where(signals.c.paper_id == papers.c.id)
                .scalar_subquery())
    after = ""
    while True:
        rows = connection.execute(
            sa.select(papers.c.id, papers.c.announced_on, papers.c.created_at, external.label("external"))
            .where(papers.c.id > after).order_by(papers.c.id).limit(BACKFILL_BATCH)).all()
        if not rows:
            break
        values = []
        for row in rows:
            moment = announced_at(_day(row.announced_on), _utc(row.created_at))
            counts = Popularity(external_upvotes=int(row.external or 0))
            points, score = parameters.standing(counts, moment)
            values.append({"paper_id": row.id, "upvotes": 0, "saves": 0,
                           "external_upvotes": counts.external_upvotes,
                           "points": points, "announced_at": moment, "score": score})
        connection.execute(popularity.insert(), values)
        after = rows[-1].id
    stored = sa.table("trending_parameters", sa.column("name", sa.String),
                      sa.column("parameters_json", sa.Text),
                      sa.column("updated_at", sa.DateTime(timezone=True)))
    described = json.dumps(parameters.describe(), sort_keys=True)
    connection.execute(stored.insert().values(name="scores", updated_at=datetime.now(UTC),
                                              parameters_json=described))


def _day(value: date | datetime | str | None) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


def _utc(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE vote_seq")
    else:
        op.execute("DELETE FROM counters WHERE name = 'vote_seq'")
    for table in ("vote_actions", "saves", "votes", "trending_parameters", "paper_popularity"):
        op.drop_table(table)
