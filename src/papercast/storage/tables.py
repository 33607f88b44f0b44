"""The schema as SQLAlchemy Core tables; Alembic migrations must match it (`papercast db check`)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

papers = Table(
    "papers",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("title", Text, nullable=False),
    Column("abstract", Text, nullable=False, server_default=""),
    Column("authors_json", Text, nullable=False, server_default="[]"),
    Column("categories", Text, nullable=False, server_default=""),
    Column("primary_category", String(40), nullable=False, server_default=""),
    Column("comments", Text, nullable=False, server_default=""),
    Column("journal_ref", Text, nullable=False, server_default=""),
    Column("doi", Text, nullable=False, server_default=""),
    Column("report_no", Text, nullable=False, server_default=""),
    Column("license", Text, nullable=False, server_default=""),
    Column("withdrawn", Boolean, nullable=False, server_default="0"),
    Column("latest_version", Integer, nullable=True),
    Column("announced_on", Date, nullable=True),
    Column("sources", Text, nullable=False, server_default=""),
    Column("content_hash", String(64), nullable=False),
    # Monotonic across all writers: search indexes follow papers by this sequence.
    Column("change_seq", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_papers_change_seq", "change_seq", unique=True),
    Index("ix_papers_announced_on", "announced_on"),
    Index("ix_papers_primary_category", "primary_category"),
)

paper_versions = Table(
    "paper_versions",
    metadata,
    Column("paper_id", String(80), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("paper_id", "version"),
)

paper_authors = Table(
    "paper_authors",
    metadata,
    Column("paper_id", String(80), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("name_key", Text, nullable=False),
    PrimaryKeyConstraint("paper_id", "position"),
    Index("ix_paper_authors_name_key", "name_key"),
)

paper_categories = Table(
    "paper_categories",
    metadata,
    Column("paper_id", String(80), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("category", String(40), nullable=False),
    PrimaryKeyConstraint("paper_id", "position"),
    Index("ix_paper_categories_category", "category"),
)

paper_signals = Table(
    "paper_signals",
    metadata,
    Column("paper_id", String(80), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(40), nullable=False),
    Column("upvotes", Integer, nullable=False, server_default="0"),
    Column("comments", Integer, nullable=False, server_default="0"),
    Column("github_stars", Integer, nullable=True),
    Column("observed_on", Date, nullable=True),
    PrimaryKeyConstraint("paper_id", "source"),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

harvest_cursors = Table(
    "harvest_cursors",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("state_json", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

PAPER_CHANGE_COUNTER = "paper_change_seq"

# Each paper's popularity (docs/architecture.md "Votes and trending"): counted local upvotes and
# saves, external upvotes (the sum of `paper_signals.upvotes`), the points they make and the
# epoch-anchored score, stored and indexed so that a trending page is one index walk. Apart from
# `papers`: a vote must not move the paper's change_seq, which the search indexes follow.
paper_popularity = Table(
    "paper_popularity",
    metadata,
    Column("paper_id", String(80), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("upvotes", Integer, nullable=False, server_default="0"),
    Column("saves", Integer, nullable=False, server_default="0"),
    Column("external_upvotes", BigInteger, nullable=False, server_default="0"),
    Column("points", Float, nullable=False, server_default="0"),
    # The v1 announcement day (its start, UTC), or when the paper was first stored.
    Column("announced_at", DateTime(timezone=True), nullable=False),
    Column("score", Float, nullable=False),
    # Only papers with points trend: the index leaves out the rest of the catalog.
    Index("ix_paper_popularity_trending", "score", "announced_at", "paper_id",
          sqlite_where=text("points > 0"), postgresql_where=text("points > 0")),
    Index("ix_paper_popularity_announced_at", "announced_at", "points"),
)

# The parameters (weights, tau) the stored scores were computed with: when the settings change
# them, the scores are computed again (`papercast trending rescore`, or the worker).
trending_parameters = Table(
    "trending_parameters",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("parameters_json", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One upvote per reader and paper; one save per reader and paper (the reader's library).
# `counted` is false while the account is disabled: its votes stay, its points do not.
def _reader_marks(name: str, *indexes: Index) -> Table:
    return Table(
        name,
        metadata,
        Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        Column("paper_id", String(80), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
        Column("counted", Boolean, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("user_id", "paper_id"),
        Index(f"ix_{name}_paper_id", "paper_id"),
        *indexes,
    )


votes = _reader_marks("votes")
saves = _reader_marks("saves", Index("ix_saves_user_id_created_at", "user_id", "created_at"))

# Every vote or save that changed something, by account and by (keyed hash of) network address:
# what the rate limits count, in the database so they hold across processes. Kept for a day.
vote_actions = Table(
    "vote_actions",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("address_hash", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_vote_actions_user_id_at", "user_id", "at"),
    Index("ix_vote_actions_address_hash_at", "address_hash", "at"),
    Index("ix_vote_actions_at", "at"),
)

# Moves on with every counted change of a vote or save: caches of listings that show points
# follow it as they follow the paper change sequence. A row here on SQLite; on PostgreSQL the
# sequence `vote_seq` (storage/popularity.py).
VOTE_COUNTER = "vote_seq"

# One vector per paper, from the encoder named by `model_id`. `content_hash` is the paper's at
# embedding time: a paper whose hash moved on (or whose vector is from another model) is pending.
paper_embeddings = Table(
    "paper_embeddings",
    metadata,
    Column("paper_id", String(80), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("model_id", String(120), nullable=False),
    Column("dimension", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),  # little-endian float32, `dimension` of them
    Column("content_hash", String(64), nullable=False),
    # A hash of the embedded text: when only other metadata changed, the model is not run again.
    Column("text_hash", String(64), nullable=False),
    # Monotonic across writers, like papers.change_seq: vector indexes follow embeddings by it.
    Column("embedding_seq", BigInteger, nullable=False),
    Column("embedded_at", DateTime(timezone=True), nullable=False),
    Index("ix_paper_embeddings_embedding_seq", "embedding_seq", unique=True),
)

# Per encoder: every paper with change_seq <= through_change_seq has a current vector from it, so
# a catch-up scans only later papers. A save by one encoder drops the others' rows (it may have
# replaced their vectors).
embedding_watermarks = Table(
    "embedding_watermarks",
    metadata,
    Column("model_id", String(120), primary_key=True),
    Column("through_change_seq", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

EMBEDDING_CHANGE_COUNTER = "embedding_seq"

# Background work (`domain/jobs.py`): claimed by workers with a lease, retried with backoff, kept
# when done (pruned after `PAPERCAST_JOBS_KEEP_DAYS`) so a periodic task's key stays taken for
# its period. Times are UTC.
jobs = Table(
    "jobs",
    metadata,
    # INTEGER on SQLite: only that spelling makes the column the rowid, which autoincrements.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("kind", String(100), nullable=False),
    Column("unique_key", String(200), nullable=True),  # enqueued once: a second enqueue is a no-op
    Column("payload", Text, nullable=False),  # a JSON object, keys sorted
    Column("state", String(16), nullable=False),
    Column("run_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_jobs_unique_key", "unique_key", unique=True),
    # What a polling worker asks: the earliest claimable job.
    Index("ix_jobs_state_run_at", "state", "run_at"),
    Index("ix_jobs_kind_state", "kind", "state"),
)

# The mail outbox: a message is queued in the transaction of the change that causes it, claimed
# by a sender with a lease and settled right after the server's reply (docs/architecture.md).
mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),  # the template: test, digest, confirm, ...
    Column("idempotency_key", String(200), nullable=True),  # queueing the same key again is a no-op
    Column("message_id", String(250), nullable=False),
    Column("sender", String(320), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("message", Text, nullable=False),  # the whole RFC 5322 message, sent byte for byte
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # Queued: when the next attempt is due. Sending: when the lease runs out and another sender
    # may take the message over. One column, so one index finds everything claimable.
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("not_after", DateTime(timezone=True), nullable=True),  # not worth sending after this
    Column("lease_owner", String(200), nullable=True),
    Column("last_smtp_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("state IN ('queued', 'sending', 'sent', 'failed', 'expired')", name="state"),
    Index("ix_mail_outbox_idempotency_key", "idempotency_key", unique=True),
    Index("ix_mail_outbox_message_id", "message_id", unique=True),
    Index("ix_mail_outbox_state_next_attempt_at", "state", "next_attempt_at", "id"),
)

# Every state change of every outbox message, with its time, attempt and what the server said.
mail_outbox_events = Table(
    "mail_outbox_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("outbox_id", Integer, ForeignKey("mail_outbox.id", ondelete="CASCADE"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("smtp_code", Integer, nullable=True),
    Column("detail", Text, nullable=False, server_default=""),
    Index("ix_mail_outbox_events_outbox_id", "outbox_id"),
)

# Named locks held by running jobs (`SqlJobStore.take_lock`): a lock is free once the job holding
# it is no longer running with a live lease, so a worker that dies frees its locks with its lease.
# The scheduled harvest of a source holds `harvest:<source>`: never two at once, across processes.
job_locks = Table(
    "job_locks",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("job_id", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    Column("taken_at", DateTime(timezone=True), nullable=False),
)

# Turns at a remote host shared by every process (`storage/request_turns.py`): arXiv asks for one
# request at a time and three seconds between requests across all of a harvester's machines.
request_turns = Table(
    "request_turns",
    metadata,
    Column("host", String(200), primary_key=True),
    Column("holder", String(200), nullable=True),  # who is requesting now, until `free_at`
    Column("free_at", DateTime(timezone=True), nullable=False),  # when the next request may start
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Readers' accounts (docs/architecture.md "Accounts"). A deleted account keeps its row, without
# address or personal data, so that what other tables hold against its id (votes) stays valid.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=True),  # lower-cased; None once the account is deleted
    Column("state", String(16), nullable=False),
    Column("is_admin", Boolean, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_sign_in_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("state IN ('active', 'disabled', 'deleted')", name="state"),
    Index("ix_users_email", "email", unique=True),
)

# Signed-in browsers. Only a hash of the cookie's token is stored: a copy of the database does
# not sign anyone in.
sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("user_agent", String(60), nullable=False, server_default=""),  # "Firefox on Linux"
    Index("ix_sessions_token_hash", "token_hash", unique=True),
    Index("ix_sessions_user_id", "user_id"),
    Index("ix_sessions_expires_at", "expires_at"),
)

# Personal API tokens for scripts (`Authorization: Bearer pct_…`), stored hashed; `prefix` is
# the start of the token, shown to tell tokens apart.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("name", String(100), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("scope IN ('read', 'write')", name="scope"),
    Index("ix_api_tokens_token_hash", "token_hash", unique=True),
    Index("ix_api_tokens_user_id", "user_id"),
)

# Single-use links sent by mail (sign-in; later confirm, manage): the signed token in the link
# names a row and carries a nonce whose hash is here; using the link sets `used_at`. `subject`
# is whom the link is for (an address for sign-in), `requester_hash` a keyed hash of the IP
# address that asked (rate limits count rows by both).
link_tokens = Table(
    "link_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("purpose", String(40), nullable=False),
    Column("subject", String(254), nullable=False),
    Column("nonce_hash", String(64), nullable=False),
    Column("requester_hash", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    Index("ix_link_tokens_purpose_subject_created_at", "purpose", "subject", "created_at"),
    Index("ix_link_tokens_purpose_requester_hash_created_at", "purpose", "requester_hash", "created_at"),
    Index("ix_link_tokens_expires_at", "expires_at"),
)

# Keys this install made for itself (the token signing key when PAPERCAST_SECRET_KEY is unset):
# in the database, so every web process and worker of the install signs with the same key.
instance_keys = Table(
    "instance_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("secret", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Digest subscribers (docs/architecture.md "Subscriptions"). `email` is lower-cased and unique;
# None once an operator removed the subscriber's personal data (the row stays for what refers to
# its id). `link_key` is the random secret unsubscribe and preferences links carry: stable, so
# old mails keep working, and gone with the personal data. Confirmation links are `link_tokens`
# rows (purpose `confirm-subscription`, subject the address); one older than `requested_at`
# (the last subscribe request that set the preferences) is superseded.
subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=True),
    Column("name", String(100), nullable=False, server_default=""),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("state", String(16), nullable=False),
    Column("frequency", String(8), nullable=False),
    Column("send_hour", Integer, nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("link_key", String(64), nullable=False),
    Column("source", String(16), nullable=False),  # form, api, account, import: how consent was given
    Column("state_reason", String(200), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    Column("consented_at", DateTime(timezone=True), nullable=True),
    Column("unsubscribed_at", DateTime(timezone=True), nullable=True),
    Column("suppressed_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("state IN ('unconfirmed', 'confirmed', 'paused', 'unsubscribed', 'suppressed')",
                    name="state"),
    CheckConstraint("frequency IN ('daily', 'weekly')", name="frequency"),
    CheckConstraint("send_hour BETWEEN 0 AND 23", name="send_hour"),
    Index("ix_subscribers_email", "email", unique=True),
    Index("ix_subscribers_user_id", "user_id", unique=True),
    Index("ix_subscribers_state_id", "state", "id"),  # confirmed subscribers in id order, paged
)

# A subscriber's topics in the reader's order: queries of the search language (`cat:` included).
subscriber_topics = Table(
    "subscriber_topics",
    metadata,
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("query", String(200), nullable=False),
    PrimaryKeyConstraint("subscriber_id", "position", name="pk_subscriber_topics"),
)

# One digest per subscriber and period (`2026-12-03`, `2026-W49`): planned once (the primary key
# refuses a second), then its outbox message's final outcome copied back for bounces and status.
digest_deliveries = Table(
    "digest_deliveries",
    metadata,
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("period", String(10), nullable=False),
    Column("state", String(16), nullable=False),
    Column("outbox_id", Integer, nullable=True),  # the mail_outbox row; none when skipped
    Column("papers", Integer, nullable=False),
    Column("send_at", DateTime(timezone=True), nullable=False),  # when it was due
    Column("planned_at", DateTime(timezone=True), nullable=False),
    Column("settled_at", DateTime(timezone=True), nullable=True),
    Column("smtp_code", Integer, nullable=True),  # the last reply of a failed or expired message
    CheckConstraint("state IN ('queued', 'skipped_empty', 'sent', 'failed', 'expired', 'cancelled')",
                    name="state"),
    PrimaryKeyConstraint("subscriber_id", "period", name="pk_digest_deliveries"),
    Index("ix_digest_deliveries_period_state", "period", "state"),
    Index("ix_digest_deliveries_state_outbox_id", "state", "outbox_id"),
)

# What a reader told papercast about a paper beyond votes and saves (`domain.recommendations.
# SignalKind`): "not interested" and the papers of a seeded profile. Upvotes and saves are read
# from `votes` and `saves`.
reader_signals = Table(
    "reader_signals",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("paper_id", String(80), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("user_id", "paper_id", "kind"),
    CheckConstraint("kind IN ('seed', 'not_interested')", name="kind"),
)

# One stored model per reader. `signal_version` moves on with every change of the reader's
# signals (in the signal's transaction); the worker fits at that version and records it in
# `fitted_version`, so a refit job finding the two equal does nothing. `weights` is a float32
# vector of `dimension` for the encoder `model_id`; NULL until the reader has a positive signal.
reader_models = Table(
    "reader_models",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("signal_version", BigInteger, nullable=False, server_default="0"),
    Column("fitted_version", BigInteger, nullable=True),
    Column("model_id", String(120), nullable=True),
    Column("dimension", Integer, nullable=True),
    Column("weights", LargeBinary, nullable=True),
    Column("positives", Integer, nullable=False, server_default="0"),
    Column("negatives", Integer, nullable=False, server_default="0"),
    Column("fitted_at", DateTime(timezone=True), nullable=True),
)

# Papers a reader's earlier digests showed: recommendations leave them out.
shown_papers = Table(
    "shown_papers",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("paper_id", String(80), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("shown_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("user_id", "paper_id"),
)
