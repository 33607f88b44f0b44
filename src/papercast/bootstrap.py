"""The composition root: builds every adapter and service from `Settings`, once per process."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from papercast.clock import Clock, SystemClock
from papercast.domain.announcements import AnnouncementCalendar, parse_holidays
from papercast.domain.errors import PapercastError
from papercast.domain.following import FollowedSource, parse_followed_sources
from papercast.domain.trending import TrendingParameters
from papercast.domain.votes import VoteLimits
from papercast.ports import Embedder, HarvestSources, Mailer, SearchBackend
from papercast.services.catalog import CatalogService
from papercast.services.embedding import EmbeddingService
from papercast.services.following import FollowService
from papercast.services.harvest import HarvestService
from papercast.services.ingest import IngestService
from papercast.services.listings import ListingService
from papercast.services.trending import TrendingService
from papercast.services.votes import VoteService
from papercast.settings import Settings
from papercast.sources.harvest_sources import HttpHarvestSources
from papercast.sources.http import HttpPolicy, PoliteHttpClient
from papercast.sources.read_ahead import ProcessReadAhead
from papercast.storage import migrations
from papercast.storage.cursors import SqlCursorStore
from papercast.storage.engine import create_database_engine
from papercast.storage.jobs import SqlJobStore
from papercast.storage.listings import SqlListingQueries
from papercast.storage.papers import SqlPaperRepository
from papercast.storage.popularity import SqlPopularityQueries
from papercast.storage.request_turns import SqlRequestTurns
from papercast.storage.unit_of_work import SqlUnitOfWork

if TYPE_CHECKING:
    from papercast.domain.tokens import TokenSigner
    from papercast.index.follower import IndexFollower
    from papercast.mail.queue import TemplatedMailQueue
    from papercast.ports import PersonalPicks
    from papercast.services.accounts import AccountService
    from papercast.services.digests import DigestService
    from papercast.services.mail import OutboxSender
    from papercast.services.recommendations import RecommendationService
    from papercast.services.search import SearchService, SearchTuning
    from papercast.services.subscriptions import SubscriptionService
    from papercast.storage.embeddings import SqlEmbeddingStore
    from papercast.storage.outbox import SqlMailOutbox
    from papercast.storage.recommendations import SqlRecommendationStore
    from papercast.web.context import BackgroundWorker, WebServices

log = logging.getLogger("papercast.bootstrap")

ADDRESS_KEY_NAME = "vote-address-hash"  # keys the hashes of client addresses in `vote_actions`
SIGNING_KEY_NAME = "token-signing"  # the install's own key, in `instance_keys`


@dataclass
class Papercast:
    """Everything a command, the web app or the worker needs, wired together."""

    settings: Settings
    clock: Clock
    engine: Engine
    papers: SqlPaperRepository
    cursors: SqlCursorStore
    units: SqlUnitOfWork
    jobs: SqlJobStore
    # Set after a commit that enqueued a job: wakes this process's idle worker.
    job_enqueued: threading.Event
    catalog: CatalogService
    ingest: IngestService
    harvest: HarvestService
    listings: ListingService
    following: FollowService
    followed_sources: tuple[FollowedSource, ...]
    # Queues templated mail in a caller's transaction (built once, on first use).
    mail_queue: Callable[[], TemplatedMailQueue]
    trending: TrendingService
    _votes: VoteService | None = field(default=None, init=False, repr=False)
    _recommendations: RecommendationService | None = field(default=None, init=False, repr=False)
    _embedder: Embedder | None = field(default=None, init=False, repr=False)
    _embedder_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _follower: IndexFollower | None = field(default=None, init=False, repr=False)
    _signer: TokenSigner | None = field(default=None, init=False, repr=False)
    _accounts: AccountService | None = field(default=None, init=False, repr=False)
    _accounts_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _subscriptions: SubscriptionService | None = field(default=None, init=False, repr=False)
    _digests: DigestService | None = field(default=None, init=False, repr=False)

    def http_client(self) -> PoliteHttpClient:
        """A polite HTTP client for harvests, spaced and retried as the settings say; the spacing
        and one request at a time per host hold across processes (turns in the database)."""
        s = self.settings
        return PoliteHttpClient(HttpPolicy(
            request_interval=s.harvest_request_interval, max_attempts=s.harvest_max_attempts,
            backoff_initial=s.harvest_backoff_initial, backoff_max=s.harvest_backoff_max,
            timeout=s.harvest_timeout, max_response_bytes=s.harvest_max_response_bytes,
            user_agent=s.user_agent,
        ), self.clock, turns=SqlRequestTurns(self.engine, self.clock))

    @contextmanager
    def harvest_sources(self) -> Iterator[HarvestSources]:
        """The followed sources' endpoints over one polite client, closed after the block."""
        client = self.http_client()
        try:
            yield HttpHarvestSources(client, self.settings.oai_base_url, self.settings.hf_daily_url)
        finally:
            client.close()

    def votes(self) -> VoteService:
        """Upvotes, saves and libraries; built on first use (it reads the install's address key)."""
        with self._embedder_lock:
            if self._votes is None:
                self._votes = build_votes(self)
            return self._votes

    def recommendation_store(self) -> SqlRecommendationStore:
        from papercast.storage.recommendations import SqlRecommendationStore

        return SqlRecommendationStore(self.engine)

    def recommendations(self) -> RecommendationService:
        """Recommendations and refits; built on first use (numpy, scipy and the candidate
        vectors load only in processes that recommend)."""
        follower = self.index_follower()  # outside the lock, which it takes itself
        with self._embedder_lock:
            if self._recommendations is None:
                self._recommendations = build_recommendations(self, follower)
            return self._recommendations

    def embedding_store(self) -> SqlEmbeddingStore:
        # Imported here: numpy (and any encoder) loads only in processes that use embeddings.
        from papercast.storage.embeddings import SqlEmbeddingStore

        return SqlEmbeddingStore(self.engine, self.clock)

    def embedder(self) -> Embedder:
        """The encoder the settings name, loaded on first use (a model takes seconds to load)."""
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = self.load_embedder(self.settings.embedding_model)
            return self._embedder

    def load_embedder(self, model: str) -> Embedder:
        """A new encoder named `model` (`minilm`, `tfidf`, `hashing`); TF-IDF fits on the catalog."""
        from papercast.embeddings.factory import load_embedder

        settings = replace(self.settings, embedding_model=model)
        return load_embedder(settings, self.embedding_store().iter_paper_texts)

    def embedding_service(self, model: str | None = None) -> EmbeddingService:
        """Embedding catch-up with the configured encoder, or with `model` when given."""
        same = model is None or model == self.settings.embedding_model
        embedder = self.embedder() if same else self.load_embedder(model or "")
        return EmbeddingService(self.embedding_store(), embedder, self.clock)

    def embedding_model_id(self) -> str | None:
        """The configured encoder's model id, without loading the model."""
        from papercast.embeddings.factory import configured_model_id

        return configured_model_id(self.settings)

    def embedding_backlog(self) -> tuple[str, int] | None:
        """(model id, papers not embedded with it); None where there is no model to count for."""
        try:
            model_id = self.embedding_model_id()
            if model_id is None:  # a TF-IDF encoder not fitted yet: nothing is embedded with it
                return None
            return model_id, int(self.embedding_store().pending_count(model_id))
        except (ImportError, PapercastError) as error:  # embeddings not installed or not configured
            log.info("metrics.no_embedding_backlog reason=%s", error)
            return None

    def index_follower(self) -> IndexFollower:
        """This process's search indexes under `<data_dir>/index`, following the database."""
        with self._embedder_lock:
            if self._follower is None:
                from papercast.index.follower import IndexFollower

                self._follower = IndexFollower(
                    self.settings.data_dir / "index", self.papers, self.embedding_store(),
                    self.embedding_model_id(), self.clock, exact_max=self.settings.vector_exact_max)
            return self._follower

    def search_service(self, *, semantic: bool = True, tuning: SearchTuning | None = None) -> SearchService:
        """Search over the followed indexes; without `semantic`, keyword-only (no model is loaded)."""
        from papercast.index.follower import LiveKeywordIndex, LiveVectorIndex
        from papercast.services.search import SearchService

        follower = self.index_follower()
        embedder = self.embedder() if semantic else None
        return SearchService(LiveKeywordIndex(follower), LiveVectorIndex(follower) if semantic else None,
                             embedder, self.papers, tuning)

    def search_backend(self) -> SearchBackend | None:
        """What answers searches on the web: the search service over this process's indexes,
        semantic where an encoder loads, else keyword-only; None (the web then matches the catalog
        plainly) when the indexes cannot be opened here."""
        try:
            return self.search_service(semantic=True)
        except (PapercastError, ImportError, OSError) as error:
            log.warning("serve.search_semantic_unavailable error=%s", error)
        try:
            return self.search_service(semantic=False)
        except (PapercastError, ImportError, OSError) as error:
            log.error("serve.search_unavailable error=%s; serving a plain catalog match", error)
            return None

    def web_services(self, *, search_backend: SearchBackend | None = None,
                     worker: BackgroundWorker | None = None) -> WebServices:
        """What the web app is given: the read services, the search backend (None: a plain
        catalog match), health and metrics probes, its settings, and the worker to run beside it."""
        from papercast.services.operations import OperationsService
        from papercast.storage.health import SqlHealthCheck
        from papercast.web.context import WebConfig, WebServices

        operations = OperationsService(self.papers, self.jobs, self.mail_outbox(), self.clock,
                                       self.embedding_backlog)
        return WebServices(
            catalog=self.catalog, listings=self.listings, health=SqlHealthCheck(self.engine),
            operations=operations, config=WebConfig.from_settings(self.settings),
            monotonic=self.clock.monotonic, accounts=self.accounts, signer=self.signer,
            subscriptions=self.subscriptions, trending=self.trending, votes=self.votes,
            recommendations=self.recommendations,
            search_backend=search_backend, worker=worker)

    def served_web(self, *, with_worker: bool) -> WebServices:
        """What `papercast serve` runs: the web services over the real search backend and,
        `with_worker`, this process's worker on a thread beside the server."""
        from papercast.worker.background import background_worker
        from papercast.worker.tasks import build_worker

        worker = build_worker(self) if with_worker else None
        in_background = (lambda: background_worker(worker)) if worker is not None else None
        return self.web_services(search_backend=self.search_backend(), worker=in_background)

    def mail_outbox(self) -> SqlMailOutbox:
        from papercast.storage.outbox import SqlMailOutbox

        return SqlMailOutbox(self.engine)

    def mailer(self) -> Mailer:
        """SMTP when PAPERCAST_SMTP_HOST is set; otherwise `.eml` files under `<data_dir>/mail/`."""
        s = self.settings
        if not s.smtp_host:
            from papercast.mail.files import FileMailer

            return FileMailer(s.data_dir / "mail")
        from papercast.mail.smtp import SmtpConfig, SmtpMailer

        return SmtpMailer(SmtpConfig(host=s.smtp_host, port=s.smtp_port, security=s.smtp_security,
                                     user=s.smtp_user, password=s.smtp_password, timeout=s.smtp_timeout))

    def outbox_sender(self, mailer: Mailer | None = None) -> OutboxSender:
        """Sends the outbox (what the worker runs), as an owner unique to this process."""
        from papercast.domain.mail import MailRetryPolicy
        from papercast.services.mail import OutboxSender

        s = self.settings
        policy = MailRetryPolicy(max_attempts=s.mail_max_attempts, initial_delay=s.mail_retry_initial,
                             max_delay=s.mail_retry_max)
        owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        return OutboxSender(self.mail_outbox(), mailer or self.mailer(), self.clock, policy, owner=owner,
                            lease=timedelta(seconds=s.mail_lease_seconds))

    def signer(self) -> TokenSigner:
        """Signs links and CSRF tokens: PAPERCAST_SECRET_KEY, or the install's own key from the
        database (made by the first process that needs it); old keys still verify."""
        with self._accounts_lock:
            if self._signer is None:
                self._signer = self._load_signer()
            return self._signer

    def _load_signer(self) -> TokenSigner:
        from papercast.domain.tokens import TokenSigner, new_secret
        from papercast.storage.instance_keys import load_or_create_key

        s = self.settings
        key = s.secret_key or load_or_create_key(self.engine, SIGNING_KEY_NAME, lambda: new_secret(48),
                                                 self.clock.now())
        old = [item.strip() for item in s.old_secret_keys.split(",") if item.strip()]
        return TokenSigner([key, *old])

    def accounts(self) -> AccountService:
        """Readers' accounts: sign-in, sessions, API tokens; built on first use (it needs the key)."""
        signer = self.signer()
        with self._accounts_lock:
            if self._accounts is None:
                from papercast.domain.accounts import SignInPolicy
                from papercast.services.accounts import AccountService
                from papercast.storage.accounts import SqlAccountStore

                s = self.settings
                policy = SignInPolicy(
                    link_max_age=timedelta(minutes=max(1, s.sign_in_link_minutes)),
                    session_lifetime=timedelta(days=max(1, s.session_days)),
                    per_address_per_hour=max(0, s.sign_in_per_address_per_hour),
                    per_ip_per_hour=max(0, s.sign_in_per_ip_per_hour), open_sign_up=s.open_sign_up)
                self._accounts = AccountService(self.units, SqlAccountStore(self.engine), self.mail_queue(),
                                                signer, self.clock, policy)
            return self._accounts

    def subscriptions(self) -> SubscriptionService:
        """Digest subscriptions: subscribe, confirm, preferences, unsubscribe, import; built on
        first use (it needs the key)."""
        signer = self.signer()
        with self._accounts_lock:
            if self._subscriptions is None:
                from papercast.domain.mail import parse_mailbox
                from papercast.domain.subscriptions import SubscriptionPolicy
                from papercast.services.subscriptions import SubscriptionService
                from papercast.storage.accounts import SqlAccountStore
                from papercast.storage.subscribers import SqlSubscriberStore

                s = self.settings
                sender = parse_mailbox(s.mail_from, "PAPERCAST_MAIL_FROM").address
                policy = SubscriptionPolicy(
                    confirm_max_age=timedelta(hours=s.subscribe_confirm_hours),
                    preferences_max_age=timedelta(days=s.preferences_link_days),
                    per_address_per_day=s.subscribe_per_address_per_day,
                    per_ip_per_hour=s.subscribe_per_ip_per_hour,
                    unsubscribe_mailto=s.unsubscribe_mailto or sender)
                self._subscriptions = SubscriptionService(
                    self.units, SqlSubscriberStore(self.engine), SqlAccountStore(self.engine), signer,
                    self.clock, policy, base_url=s.public_base_url)
            return self._subscriptions

    def digests(self, picks: PersonalPicks | None = None) -> DigestService:
        """Digests: plan, preview, outcomes, status; built on first use (subscriptions need the
        key, topics the keyword index). Personal picks come from recommendations unless `picks`
        stands in for them."""
        from papercast.services.digest_picks import RecommendedPicks

        subscriptions = self.subscriptions()
        with self._accounts_lock:
            if self._digests is None or picks is not None:
                recommendations = self.recommendations()
                picks = picks or RecommendedPicks(recommendations)
                self._digests = build_digests(self, subscriptions, picks, recommendations.not_interested_path)
            return self._digests

    def close(self) -> None:
        if self._recommendations is not None:
            self._recommendations.close()
        if self._follower is not None:
            self._follower.close()
        self.engine.dispose()


def build(settings: Settings, clock: Clock | None = None, *, prepare_schema: bool = True) -> Papercast:
    """Wire papercast for `settings`.

    With `prepare_schema`, an empty database gets the schema created; a database at an older
    revision is refused (`SchemaOutOfDate`) so nobody migrates production by accident.
    """
    clock = clock or SystemClock()
    engine = database_engine(settings)
    if prepare_schema:
        ensure_schema(engine)
    trending = trending_parameters(settings)
    papers = SqlPaperRepository(engine, clock, trending)
    cursors = SqlCursorStore(engine, clock)
    job_enqueued = threading.Event()

    @functools.cache
    def mail_queue() -> TemplatedMailQueue:  # built on first use: templates load where mail is queued
        return _templated_mail_queue(settings, engine, clock)

    units = SqlUnitOfWork(engine, clock, on_enqueue=job_enqueued.set, mail_queue=mail_queue,
                          trending=trending, refit_delay_seconds=settings.recommendations_refit_delay_seconds)
    # SQLite has one write lock, which a vote needs too: there ingest writes in short sub-batches.
    # PostgreSQL locks rows, so votes do not wait for ingest, which writes whole batches (faster).
    one_writer = engine.dialect.name == "sqlite"
    ingest = IngestService(units, batch_size=settings.ingest_batch_size,
                           read_ahead=ProcessReadAhead(settings.ingest_read_ahead_mb * 2**20),
                           reads=papers if one_writer else None, clock=clock)
    harvest = HarvestService(ingest, cursors)
    calendar = AnnouncementCalendar(parse_holidays(settings.harvest_holidays))
    return Papercast(
        settings=settings,
        clock=clock,
        engine=engine,
        papers=papers,
        cursors=cursors,
        units=units,
        jobs=SqlJobStore(engine, clock, on_enqueue=job_enqueued.set),
        job_enqueued=job_enqueued,
        catalog=CatalogService(papers),
        ingest=ingest,
        harvest=harvest,
        listings=ListingService(SqlListingQueries(engine)),
        following=FollowService(harvest, cursors, calendar, clock, first_days=settings.harvest_first_days),
        followed_sources=parse_followed_sources(settings.harvest_follow),
        mail_queue=mail_queue,
        trending=TrendingService(SqlPopularityQueries(engine, monotonic=clock.monotonic), units, clock,
                                 trending),
    )


def trending_parameters(settings: Settings) -> TrendingParameters:
    return TrendingParameters(
        upvote_weight=settings.trending_upvote_weight, save_weight=settings.trending_save_weight,
        external_weight=settings.trending_external_weight, tau_seconds=settings.trending_tau_hours * 3600)


def build_votes(papercast: Papercast) -> VoteService:
    """The vote service, with per-address limits counted by a keyed hash of the address: the key
    is the install's own (in the database, shared by every process; read at the first vote), so
    the hashes cannot be reversed by hashing every IPv4 address."""
    from papercast.storage.instance_keys import load_or_create_key
    from papercast.storage.votes import SqlVoteStore

    s = papercast.settings
    limits = VoteLimits(per_account_per_minute=s.votes_per_account_per_minute,
                        per_account_per_day=s.votes_per_account_per_day,
                        per_address_per_minute=s.votes_per_address_per_minute,
                        per_address_per_day=s.votes_per_address_per_day)
    keys: list[bytes] = []

    def hash_address(group: str) -> str:
        if not keys:
            keys.append(load_or_create_key(papercast.engine, ADDRESS_KEY_NAME, lambda: secrets.token_hex(32),
                                           papercast.clock.now()).encode("utf-8"))
        return hmac.new(keys[0], group.encode("utf-8"), hashlib.sha256).hexdigest()

    store = SqlVoteStore(papercast.engine, papercast.trending.parameters)
    return VoteService(papercast.units, store, papercast.papers, papercast.clock, limits, hash_address)


def build_digests(papercast: Papercast, subscriptions: SubscriptionService, picks: PersonalPicks | None,
                  not_interested: Callable[[int, str], str] | None = None) -> DigestService:
    from papercast.index.follower import LiveKeywordIndex
    from papercast.index.topics import KeywordTopicMatcher
    from papercast.services.digests import DigestPolicy, DigestService
    from papercast.storage.digests import SqlDigestStore, SqlTrendingPapers
    from papercast.storage.popularity import SqlPopularityQueries
    from papercast.storage.subscribers import SqlSubscriberStore

    s = papercast.settings
    policy = DigestPolicy(skip_empty=s.digest_skip_empty, per_section=s.digest_papers_per_section,
                          abstract_chars=s.digest_abstract_chars, suppress_after=s.digest_suppress_after)
    engine = papercast.engine
    return DigestService(
        papercast.units, SqlDigestStore(engine), subscriptions, SqlSubscriberStore(engine),
        SqlTrendingPapers(SqlPopularityQueries(engine, monotonic=papercast.clock.monotonic)),
        KeywordTopicMatcher(LiveKeywordIndex(papercast.index_follower())), papercast.papers,
        papercast.mail_queue(), papercast.clock, policy, base_url=s.public_base_url, picks=picks,
        not_interested=not_interested)
def build_recommendations(papercast: Papercast, follower: IndexFollower) -> RecommendationService:
    from papercast.domain.recommendations import RecencyBlend
    from papercast.index.follower import LiveKeywordIndex
    from papercast.index.topics import KeywordTopicMatcher
    from papercast.recommend.candidates import RecentPapers
    from papercast.services.recommendations import RecommendationService, RecommendationSettings

    s = papercast.settings
    store = papercast.recommendation_store()
    embeddings = papercast.embedding_store()
    pool = RecentPapers(store.recent, lambda: (embeddings.last_seq(), papercast.papers.count()),
                        papercast.embedding_model_id, papercast.clock, s.recommendations_window_days)
    settings = RecommendationSettings(
        window_days=s.recommendations_window_days,
        blend=RecencyBlend(s.recommendations_recency_weight, s.recommendations_half_life_days))
    return RecommendationService(store, papercast.units, pool, papercast.trending, papercast.listings,
                                 papercast.papers,
                                 papercast.clock, papercast.embedding_model_id, papercast.signer, settings,
                                 topics=KeywordTopicMatcher(LiveKeywordIndex(follower)))


def database_engine(settings: Settings) -> Engine:
    """The settings' database, opened: an explicit URL as given; the default SQLite file with
    the data directory created when missing (a fresh clone's `make run` relies on that)."""
    if settings.database_url:
        return create_database_engine(settings.database_url)
    return create_database_engine(settings.resolved_database_url, setting="PAPERCAST_DATA_DIR",
                                  create_directory=True)


def _templated_mail_queue(settings: Settings, engine: Engine, clock: Clock) -> TemplatedMailQueue:
    """Queues templated mail in a caller's transaction; From and base URL from the settings."""
    from papercast.mail.queue import TemplatedMailQueue
    from papercast.mail.render import MailRenderer

    # Links in mail point at PAPERCAST_BASE_URL, or at `papercast serve`'s default address.
    return TemplatedMailQueue(engine, MailRenderer(settings.public_base_url), clock,
                              mail_from=settings.mail_from, base_url=settings.base_url)


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse an out-of-date one."""
    if migrations.current_revision(engine) is None:
        log.info("db.create revision=%s", migrations.head_revision())
        migrations.upgrade(engine)
        return
    migrations.require_current(engine)
