"""The few interfaces services depend on; adapters implement them."""

from __future__ import annotations

from collections.abc import Collection, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from papercast.domain.accounts import ApiTokenInfo, LinkRecord, Reader, Scope, SessionInfo, User, UserState
from papercast.domain.digests import DeliveryState, DigestPeriod, PlannedDelivery, SettledDelivery
from papercast.domain.ingest import SourceItem, ValidatedBatch
from papercast.domain.jobs import Job, JobEvent, JobState
from papercast.domain.mail import Claim, Envelope, MailRequest, PreparedMail, QueuedMail, Receipt, Settlement
from papercast.domain.operations import HealthStatus, JobStats
from papercast.domain.papers import Outcome, Paper
from papercast.domain.query import ParsedQuery, TextSegment
from papercast.domain.subscriptions import Preferences, Subscriber, SubscriberState
from papercast.domain.trending import Mark, Standing


class PaperSource(Protocol):
    """One input format: yields records and the rejections it found while parsing.

    `name` is what papers remember as their source (`arxiv-oai`, `hf-daily`, ...).
    """

    name: str

    def items(self) -> Iterator[SourceItem]: ...


class ReadAhead(Protocol):
    """Reads and validates a source's batches elsewhere (another process) while the caller writes.

    `batches` answers None when reading ahead is not worth it for this source (a small file,
    one core, not a file); the caller then reads the source itself. The iterator yields the
    batches in input order, raises what reading the source raised, and must be closed.
    """

    def batches(self, source: PaperSource,
                batch_size: int) -> Generator[ValidatedBatch, None, None] | None: ...


class CursorStore(Protocol):
    """Named harvest cursors (where the next run continues), written with the pages they follow;
    `set_cursor` writes one on its own (a mark no page carries)."""

    def get_cursor(self, name: str) -> dict[str, str] | None: ...

    def set_cursor(self, name: str, state: dict[str, str]) -> None: ...


class HarvestPage(Protocol):
    """One fetched page of a paged remote source (read-only here: a page may keep a list or a tuple)."""

    @property
    def items(self) -> Sequence[SourceItem]: ...

    @property
    def next_state(self) -> dict[str, str]: ...

    @property
    def done(self) -> bool: ...

    @property
    def description(self) -> str: ...


class PagedSource(Protocol):
    """A remote source read page by page; `state` is what a cursor stores between pages."""

    name: str

    def cursor_name(self) -> str: ...

    def initial_state(self) -> dict[str, str]: ...

    def resume_state(self, stored: dict[str, str]) -> dict[str, str]: ...

    def fetch(self, state: dict[str, str]) -> HarvestPage: ...


class RequestTurns(Protocol):
    """Turns at a remote host shared by every process: `take` answers 0.0 when `holder` has the
    turn (for at most `hold`), else the seconds until it may be free; `end` gives it back and says
    the next request may start `spacing` after this one `started`."""

    def take(self, host: str, holder: str, hold: timedelta) -> float: ...

    def end(self, host: str, holder: str, spacing: timedelta, started: datetime) -> None: ...


class HarvestSources(Protocol):
    """The remote sources a scheduled harvest reads, over one polite HTTP client: an arXiv
    OAI-PMH set (from `from_date` when it has no cursor yet) and Hugging Face daily papers."""

    def oai(self, set_spec: str, from_date: str = "") -> PagedSource: ...

    def hf_daily(self, first_day: date, last_day: date) -> PagedSource: ...


class Fetcher(Protocol):
    """GETs a URL's body for a paged source (`sources.http.PoliteHttpClient`)."""

    def get(self, url: str, params: dict[str, str] | None = None) -> bytes: ...


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (a numpy array of shape (n, dimension)).

    `model_id` names the model and its version; it is stored with every vector, so a model
    change is seen and triggers a clean re-embed.
    """

    model_id: str
    dimension: int

    def embed_documents(self, texts: Sequence[str]) -> Any: ...

    def embed_query(self, text: str) -> Any: ...


class PaperWrites(Protocol):
    """Paper reads and writes inside a unit of work's transaction."""

    def get_many(self, paper_ids: Sequence[str]) -> dict[str, Paper]: ...

    def max_change_seq(self) -> int: ...

    def save(self, changes: Sequence[tuple[Outcome, Paper]]) -> int: ...

    def set_cursor(self, name: str, state: dict[str, str]) -> None: ...


class JobWriter(Protocol):
    """Enqueues jobs; inside a unit of work they commit with the change that caused them.

    A second enqueue under a `unique_key` that is taken adds nothing and answers None.
    """

    def enqueue(self, kind: str, payload: Mapping[str, Any] | None = None, *, unique_key: str | None = None,
                run_at: datetime | None = None) -> int | None: ...


class MailWriter(Protocol):
    """Queues mail inside a unit of work: the message commits with the change that causes it.
    Queueing a request whose idempotency key is queued already adds nothing and answers None.
    Cancelling and forgetting mail likewise commit with the change that causes them."""

    def enqueue(self, request: MailRequest) -> QueuedMail | None: ...

    def cancel(self, address: str, kinds: Collection[str], reason: str) -> int:
        """Retire the queued (not yet sending) messages of `kinds` to `address` as expired; how many."""
        ...

    def forget_recipient(self, address: str) -> int:
        """Delete every message to `address`, sent or not; how many."""
        ...


class AccountRecords(Protocol):
    """Users, sessions, API tokens and single-use links, read and written in one transaction."""

    def add_user(self, email: str, now: datetime, *, is_admin: bool = False) -> User | None: ...

    def user_by_email(self, email: str) -> User | None: ...

    def user_by_id(self, user_id: int) -> User | None: ...

    def list_users(self, limit: int) -> list[User]: ...

    def set_user_state(self, user_id: int, state: UserState) -> None: ...

    def set_admin(self, user_id: int, is_admin: bool) -> None: ...

    def record_sign_in(self, user_id: int, now: datetime) -> None: ...

    def forget_user(self, user_id: int) -> None: ...

    def add_session(self, user_id: int, token_hash: str, now: datetime, expires_at: datetime,
                    user_agent: str) -> int: ...

    def session_reader(self, token_hash: str, now: datetime) -> tuple[Reader, datetime] | None: ...

    def touch_session(self, session_id: int, now: datetime) -> None: ...

    def sessions_of(self, user_id: int, now: datetime) -> list[SessionInfo]: ...

    def delete_session(self, token_hash: str) -> bool: ...

    def delete_sessions(self, user_id: int) -> int: ...

    def add_api_token(self, user_id: int, token_hash: str, prefix: str, name: str, scope: Scope,
                      now: datetime) -> ApiTokenInfo: ...

    def token_reader(self, token_hash: str) -> tuple[Reader, datetime | None] | None: ...

    def touch_api_token(self, token_id: int, now: datetime) -> None: ...

    def api_tokens_of(self, user_id: int) -> list[ApiTokenInfo]: ...

    def revoke_api_token(self, user_id: int, token_id: int, now: datetime) -> bool: ...

    def add_link(self, purpose: str, subject: str, nonce_hash: str, requester_hash: str | None,
                 now: datetime, expires_at: datetime) -> int: ...

    def link(self, link_id: int) -> tuple[LinkRecord, str] | None: ...

    def use_link(self, link_id: int, now: datetime) -> bool: ...

    def count_links(self, purpose: str, since: datetime, *, subject: str | None = None,
                    requester_hash: str | None = None) -> int: ...

    def forget_links(self, subject: str) -> int: ...

    def prune(self, links_before: datetime, sessions_before: datetime) -> tuple[int, int]: ...

    def lock(self, name: str) -> None: ...


class AccountReading(Protocol):
    """Account reads outside a unit of work."""

    def reading(self) -> AbstractContextManager[AccountRecords]: ...


class SubscriberRecords(Protocol):
    """Digest subscribers and their topics, read and written in one transaction."""

    def add(self, email: str, state: SubscriberState, preferences: Preferences, *, link_key: str, source: str,
            now: datetime, name: str = "", user_id: int | None = None,
            consented_at: datetime | None = None) -> Subscriber | None: ...

    def by_id(self, subscriber_id: int) -> Subscriber | None: ...

    def by_ids(self, subscriber_ids: Collection[int], *, lock: bool = False) -> dict[int, Subscriber]: ...

    def by_email(self, email: str) -> Subscriber | None: ...

    def by_user(self, user_id: int) -> Subscriber | None: ...

    def page(self, *, states: Collection[SubscriberState] = (), after_id: int = 0,
             limit: int = 1000) -> list[Subscriber]: ...

    def state_counts(self) -> dict[str, int]: ...

    def set_preferences(self, subscriber_id: int, preferences: Preferences, now: datetime, *,
                        requested: bool = False) -> None: ...

    def set_state(self, subscriber_id: int, state: SubscriberState, now: datetime, *, reason: str = "",
                  consented_at: datetime | None = None) -> None: ...

    def set_owner(self, subscriber_id: int, *, name: str | None = None,
                  user_id: int | None = None) -> None: ...

    def forget(self, subscriber_id: int, now: datetime, new_link_key: str) -> None: ...


class SubscriberReading(Protocol):
    """Subscriber reads outside a unit of work."""

    def reading(self) -> AbstractContextManager[SubscriberRecords]: ...


class ScoreWrites(Protocol):
    """Stored trending scores inside a transaction: scored again in id order, and the parameters
    they were made with (`storage.popularity.PopularityRecords`)."""

    def rescore(self, after: str, limit: int) -> tuple[str, int] | None: ...

    def store_parameters(self, now: datetime) -> None: ...


class VoteWrites(Protocol):
    """Upvotes and saves inside a unit of work's transaction, with the paper counts they make,
    the actions rate limits count, and an account's marks counted or not (`VoteRecords`)."""

    @property
    def popularity(self) -> ScoreWrites: ...

    def lock_voter(self, user_id: int) -> UserState | None: ...

    def standing(self, paper_id: str) -> Standing | None: ...

    def set_mark(self, mark: Mark, user_id: int, paper_id: str, on: bool, now: datetime) -> bool: ...

    def marks_of(self, user_id: int, paper_ids: Sequence[str]) -> dict[str, set[Mark]]: ...

    def nth_newest_action(self, n: int, since: datetime, *, user_id: int | None = None,
                          address_hash: str | None = None) -> datetime | None: ...

    def record_action(self, user_id: int, address_hash: str, now: datetime) -> None: ...

    def stop_counting(self, user_id: int) -> int: ...

    def resume_counting(self, user_id: int) -> int: ...


class VoteReads(Protocol):
    """Votes and saves outside a unit of work: a page's marks, a reader's library."""

    def reading(self) -> AbstractContextManager[VoteWrites]: ...

    def library(self, user_id: int, offset: int, limit: int) -> tuple[list[tuple[str, datetime]], int]: ...


class Transaction(Protocol):
    """One unit of work's stores, all writing in the same transaction; stores that are not parts
    of it join through `connection` (the mail queue does)."""

    @property
    def papers(self) -> PaperWrites: ...

    @property
    def jobs(self) -> JobWriter: ...

    @property
    def mail(self) -> MailWriter: ...

    @property
    def accounts(self) -> AccountRecords: ...

    @property
    def subscribers(self) -> SubscriberRecords: ...

    @property
    def votes(self) -> VoteWrites: ...

    @property
    def recommendations(self) -> ReaderSignalWrites: ...

    @property
    def connection(self) -> Any: ...


class UnitOfWork(Protocol):
    """Opens a transaction across stores: leaving the block commits it, an exception rolls it back."""

    def begin(self) -> AbstractContextManager[Transaction]: ...


class JobStore(JobWriter, Protocol):
    """Stored jobs: what workers claim and settle, and operators list, retry and cancel.

    A worker's reports (`complete`, `fail`, ...) change nothing and answer False when `owner` no
    longer holds the job (its lease expired and another worker took it, or it was cancelled).
    """

    def enqueue_periodic(self, kind: str, payload: Mapping[str, Any] | None, unique_key: str,
                         run_at: datetime) -> int | None: ...

    def next_claimable_at(self, kinds: Collection[str]) -> datetime | None: ...

    def claim(self, owner: str, kinds: Collection[str], lease: timedelta) -> Job | None: ...

    def extend_lease(self, job_id: int, owner: str, lease: timedelta) -> bool: ...

    def complete(self, job_id: int, owner: str) -> bool: ...

    def fail(self, job_id: int, owner: str, event: JobEvent, error: str,
             retry_at: datetime | None) -> bool: ...

    def release(self, job_id: int, owner: str) -> bool: ...

    def continue_later(self, job_id: int, owner: str, run_at: datetime | None = None) -> bool: ...

    def take_lock(self, name: str, job_id: int) -> int | None: ...

    def get(self, job_id: int) -> Job: ...

    def list(self, *, states: Collection[JobState] = (), kinds: Collection[str] = (),
             limit: int = 50) -> list[Job]: ...

    def retry(self, job_id: int) -> Job: ...

    def cancel(self, job_id: int) -> Job: ...

    def prune(self, finished_before: datetime) -> int: ...


class MailSession(Protocol):
    """One connection to a mail system, reused for a run of messages.

    `deliver` answers the server's acceptance or raises `DeliveryFailed` saying what the failure
    means for the message (temporary, permanent, unknown outcome, server unreachable).
    """

    def deliver(self, envelope: Envelope) -> Receipt: ...

    def close(self) -> None: ...


class Mailer(Protocol):
    """Delivers mail: through an SMTP server, into `.eml` files, or into memory (tests)."""

    def session(self) -> MailSession: ...


class OutboxStore(Protocol):
    """The mail outbox as a sender sees it: claim due messages with a lease, settle each attempt."""

    def claim_due(self, owner: str, now: datetime, lease_until: datetime, *, max_attempts: int,
                  limit: int = 1) -> Claim: ...

    def settle(self, outbox_id: int, owner: str, now: datetime, settlement: Settlement) -> bool: ...

    def settle_and_claim(self, outbox_id: int, owner: str, now: datetime, settlement: Settlement,
                         lease_until: datetime, *, max_attempts: int) -> tuple[bool, Claim]: ...


class MailQueue(Protocol):
    """Renders and queues mail inside the caller's transaction (`connection`, a SQLAlchemy Connection),
    so the message commits with the change that causes it, or not at all."""

    def enqueue(self, connection: Any, request: MailRequest) -> QueuedMail | None: ...

    def forget_recipient(self, connection: Any, address: str) -> int:
        """Delete every message to `address` (sent or not), in the caller's transaction; how many."""
        ...


class PaperCounter(Protocol):
    """How many papers the catalog holds."""

    def count(self) -> int: ...


class JobStatistics(Protocol):
    """Jobs per kind and state, and those waiting for a worker now (`/metrics`)."""

    def statistics(self) -> JobStats: ...


class MailStatistics(Protocol):
    """Outbox messages per state, every state present (`/metrics`)."""

    def state_counts(self) -> dict[str, int]: ...


class HealthCheck(Protocol):
    """Whether the database answers and its schema is the one this code needs (`/healthz`)."""

    def status(self) -> HealthStatus: ...


# -- reading the catalog ---------------------------------------------------------------------


class PaperLookup(Protocol):
    """One stored paper by its canonical id, and how many there are (`CatalogService`)."""

    def get(self, paper_id: str) -> Paper | None: ...

    def count(self) -> int: ...


class PaperBatchReader(Protocol):
    """Stored papers by id, many at once (search results joined to their papers)."""

    def get_many(self, paper_ids: Sequence[str], *, history: bool = True) -> dict[str, Paper]: ...


class PaperReads(Protocol):
    """What ingest reads before it takes the write lock: stored papers, and the newest change
    sequence (read again under the lock, to see whether another writer came in between)."""

    def get_many(self, paper_ids: Sequence[str], *, history: bool = True) -> dict[str, Paper]: ...

    def max_change_seq(self) -> int: ...


class TrendingRow(Protocol):
    """One paper of a trending listing, before its paper is loaded."""

    @property
    def paper_id(self) -> str: ...

    @property
    def standing(self) -> Standing: ...


class PopularityQueries(Protocol):
    """The reads behind trending listings (`storage.popularity.SqlPopularityQueries`)."""

    def trending(self, offset: int, limit: int) -> tuple[Sequence[TrendingRow], int]: ...

    def window(self, start: datetime, offset: int, limit: int) -> tuple[Sequence[TrendingRow], int]: ...

    def standings(self, paper_ids: Sequence[str]) -> dict[str, Standing]: ...

    def papers(self, paper_ids: Sequence[str]) -> dict[str, Paper]: ...

    def vote_version(self) -> int: ...

    def stored_parameters(self) -> dict[str, float] | None: ...


class ListingQueries(Protocol):
    """The listing reads behind `ListingService` (`storage.listings.SqlListingQueries`)."""

    def recent(self, since: date | None, offset: int, limit: int) -> tuple[list[Paper], int]: ...

    def by_author(self, name_key: str, offset: int, limit: int) -> tuple[list[Paper], int]: ...

    def author_name(self, name_key: str) -> str | None: ...

    def by_category(self, category: str, offset: int, limit: int) -> tuple[list[Paper], int]: ...

    def matching_text(self, terms: Sequence[str], offset: int, limit: int) -> tuple[list[Paper], int]: ...

    def in_category_except(self, category: str, paper_id: str, limit: int) -> list[Paper]: ...

    def papers(self, paper_ids: Sequence[str]) -> dict[str, Paper]: ...

    def catalog_version(self) -> int: ...


# -- search ----------------------------------------------------------------------------------


class KeywordPage(Protocol):
    hits: list[tuple[str, float]]
    total: int


class KeywordSearcher(Protocol):
    """What search needs of the keyword index (`index.keyword.TantivyKeywordIndex`)."""

    def search(self, parsed: ParsedQuery, limit: int = 10, offset: int = 0,
               sort: str = "relevance") -> KeywordPage: ...

    def filter_ids(self, parsed: ParsedQuery, paper_ids: Sequence[str]) -> set[str]: ...

    def pinned_ids(self, parsed: ParsedQuery) -> list[str]: ...

    def highlight(self, text: str, parsed: ParsedQuery,
                  max_chars: int | None = None) -> tuple[TextSegment, ...]: ...


class VectorSearcher(Protocol):
    """What search needs of the vector index (`index.vectors.VectorIndex`); `problem` says why it
    holds no vectors when that is not simply because none were made (damage, a rebuild)."""

    @property
    def problem(self) -> str | None: ...

    def search(self, query_vector: Any, limit: int,
               exclude_ids: Iterable[str] = ()) -> list[tuple[str, float]]: ...

    def vector(self, paper_id: str) -> Any | None: ...

    def vectors(self, paper_ids: Sequence[str]) -> tuple[list[str], Any]: ...

    def neighbours(self, paper_id: str, limit: int) -> list[tuple[str, float]] | None: ...

    def __len__(self) -> int: ...


class SearchBackend(Protocol):
    """What answers the web's searches (`SearchService`, or `web.search.CatalogSearch`): `search`
    and `similar`; optionally `index_version()`, the sequences of its indexes."""

    def search(self, query_text: str, sort: str, offset: int, limit: int) -> Any: ...

    def similar(self, paper_id: str, limit: int) -> Any: ...


# -- embeddings ------------------------------------------------------------------------------


class EmbeddingCandidate(Protocol):
    """A paper waiting for a vector, as the embedding store lists it."""

    @property
    def paper_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def abstract(self) -> str: ...
    @property
    def content_hash(self) -> str: ...
    @property
    def change_seq(self) -> int: ...
    @property
    def stored_text_hash(self) -> str | None: ...


class EmbeddingStore(Protocol):
    """What `EmbeddingService` needs of stored vectors (`storage.embeddings.SqlEmbeddingStore`)."""

    def pending_count(self, model_id: str) -> int: ...

    def pending(self, model_id: str, limit: int,
                after_change_seq: int | None = None) -> Sequence[EmbeddingCandidate]: ...

    def watermark(self, model_id: str) -> int: ...

    def newest_change_seq(self) -> int: ...

    def advance_watermark(self, model_id: str, through_change_seq: int) -> None: ...

    def save(self, model_id: str, rows: Sequence[tuple[str, Any, str, str]]) -> int: ...

    def refresh(self, model_id: str, current: Sequence[tuple[str, str, str]]) -> int: ...


class PaperChangeFeed(Protocol):
    """The catalog as a search index follows it: papers in change-sequence order, and counts that
    tell an index whether it matches the database (`index/follower.py`, `index/health.py`)."""

    def count(self) -> int: ...

    def max_change_seq(self) -> int: ...

    def changes_after(self, change_seq: int) -> int: ...

    def oldest_change_after(self, change_seq: int) -> datetime | None: ...

    def changed_since(self, change_seq: int, limit: int) -> list[Paper]: ...


class VectorChangeBatch(Protocol):
    """Vectors written after some sequence, oldest first; `replaced_ids` now hold another model's."""

    @property
    def ids(self) -> list[str]: ...

    @property
    def matrix(self) -> Any: ...

    @property
    def last_seq(self) -> int: ...

    @property
    def replaced_ids(self) -> list[str]: ...


class VectorChangeFeed(Protocol):
    """Stored vectors as a vector index follows them, in embedding-sequence order."""

    def count(self, model_id: str) -> int: ...

    def last_seq(self) -> int: ...

    def changes_after(self, embedding_seq: int) -> int: ...

    def pending_count(self, model_id: str) -> int: ...

    def changed_since(self, model_id: str, embedding_seq: int, limit: int = ...) -> VectorChangeBatch: ...


class TrendingSince(Protocol):
    """The papers first announced since an instant, most points first (the trending service's
    `today`/`week` lists, for an instant other than now)."""

    def since(self, start: datetime, limit: int) -> list[Paper]: ...


class TopicMatcher(Protocol):
    """Those of `paper_ids` a saved search matches, best first (the keyword index)."""

    def matching(self, topic: str, paper_ids: Sequence[str], limit: int) -> list[str]: ...


class TopicPapers(Protocol):
    """Papers of the whole catalog a saved search (or `cat:` category) matches, from the keyword
    index: `best` by relevance (newest first for a filter alone), `newest` by announcement date;
    `matching` (as `TopicMatcher`) those of given papers. `IndexUnavailable` without an index."""

    def best(self, topic: str, limit: int) -> list[str]: ...

    def newest(self, topic: str, limit: int) -> list[str]: ...

    def matching(self, topic: str, paper_ids: Sequence[str], limit: int) -> list[str]: ...


class PersonalPicks(Protocol):
    """Papers picked for one reader (recommendations, issue #13): the digest's last section."""

    def picks(self, subscriber: Subscriber, period: DigestPeriod, limit: int) -> list[Paper]: ...


class DigestStore(Protocol):
    """Digest deliveries per subscriber and period (`storage.digests`); `add` joins a unit of work."""

    def add(self, connection: Any, delivery: PlannedDelivery, now: datetime) -> bool: ...

    def planned(self, keys: Sequence[tuple[int, str]]) -> set[tuple[int, str]]: ...

    def announced(self, first: date, last: date) -> list[str]: ...

    def finished(self, limit: int) -> list[SettledDelivery]: ...

    def settle(self, deliveries: Sequence[SettledDelivery], now: datetime) -> list[SettledDelivery]: ...

    def recent_outcomes(self, subscriber_id: int, limit: int) -> list[tuple[DeliveryState, int | None]]: ...

    def counts(self, period: str) -> dict[str, int]: ...

    def latest_period(self) -> str | None: ...


class MailPreparer(Protocol):
    """Renders and builds a message without queueing it (a preview)."""

    def prepare(self, request: MailRequest) -> PreparedMail: ...
class CandidateVectors(Protocol):
    """Recent papers' unit vectors held in memory for recommendations (`recommend/candidates.py`):
    `ids`, `matrix` (one row each) and `announced` (POSIX seconds), for encoder `model_id`."""

    @property
    def model_id(self) -> str | None: ...

    @property
    def ids(self) -> Sequence[str]: ...

    @property
    def matrix(self) -> Any: ...

    @property
    def announced(self) -> Any: ...


class CandidatePool(Protocol):
    """The current candidate vectors, at once; reloaded in the background when vectors changed."""

    def current(self) -> CandidateVectors: ...

    def close(self) -> None: ...


class RecommendationReads(Protocol):
    """What recommendations and refits read (`storage/recommendations.py`)."""

    def reader_state(self, user_id: int) -> UserState | None: ...

    def model_of(self, user_id: int) -> Any: ...

    def signals_of(self, user_id: int) -> list[tuple[str, Any]]: ...

    def topics_of(self, user_id: int) -> list[str]: ...

    def shown(self, user_id: int) -> set[str]: ...

    def vectors_of(self, model_id: str, paper_ids: Sequence[str]) -> tuple[list[str], Any]: ...

    def sample_vectors(self, model_id: str, size: int, rng: Any, exclude: set[str]) -> Any: ...

    def store_model(self, user_id: int, version: int, model_id: str | None, weights: Any,
                    positives: int, negatives: int, now: datetime) -> bool: ...

    def resolve_dois(self, dois: Sequence[str]) -> dict[str, str]: ...

    def resolve_titles(self, titles: Sequence[str]) -> dict[str, str]: ...


class ReaderSignalWrites(Protocol):
    """A unit of work's `recommendations`: signals, the refit they cause, shown papers."""

    def set_signal(self, user_id: int, paper_id: str, kind: Any, on: bool) -> bool: ...

    def signals_changed(self, user_id: int) -> int: ...

    def record_shown(self, user_id: int, paper_ids: Sequence[str]) -> None: ...


class TrendingListings(Protocol):
    def listing(self, window: Any = ..., offset: int = 0, limit: int = 20) -> Any: ...


class RecommendedPapers(Protocol):
    def get_many(self, paper_ids: Sequence[str], *, history: bool = True) -> dict[str, Paper]: ...


class NewestPapers(Protocol):
    """The newest papers of the catalog (`ListingService.recent`): the cold start's last resort."""

    def recent(self, since: date | None = None, offset: int = 0, limit: int = 20) -> Any: ...
