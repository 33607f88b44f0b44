"""papercast's background work as worker tasks, in one table (`periodic_tasks`), and `build_worker`.

Index following is local: every process with an index directory must bring its own indexes up
to date (the holder of `writer.lock` writes, the others reload what it published), and only the
writer computes similar papers. Draining the embedding backlog, sending the mail outbox, planning
digests and the scheduled harvests (`worker/harvests.py`) write the shared database and must
happen once however many processes run: they are cluster tasks, a job per period.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from papercast.domain.errors import InvalidInput
from papercast.domain.jobs import Every, JobCannotSucceed, JobOutcome, RetryPolicy
from papercast.worker.harvests import ScheduledHarvests
from papercast.worker.loop import Worker, WorkerConfig
from papercast.worker.registry import JobContext, JobKind, TaskRegistry, load_task_modules
from papercast.worker.schedule import PeriodicTask, Scope

if TYPE_CHECKING:
    from papercast.bootstrap import Papercast

log = logging.getLogger("papercast.worker")

EMBED_EVERY = timedelta(seconds=10)  # how soon new papers are embedded, at the latest
PRUNE_EVERY = timedelta(days=1)
RESCORE_EVERY = timedelta(minutes=1)  # how soon changed trending settings reach the stored scores
FOLLOW_BATCHES = 5  # of 2,000 papers or vectors per follow round: rounds stay short; busy ones repeat
# Similar-paper lists per round (about 4 s at 100k papers on 2 cores): short enough that a stop
# never waits long, and a busy duty runs again at once.
NEIGHBOURS_PER_ROUND = 1_000
# Messages one send-mail job sends before it lets other jobs run; it continues right after.
MAIL_PER_SLICE = 50


class WorkerDuties:
    """Today's work, bound to one papercast."""

    def __init__(self, papercast: Papercast, embed_batch: int) -> None:
        self._papercast = papercast
        self._embed_batch = embed_batch

    def follow_index(self) -> int:
        """Bring this process's indexes up to date (write them or reload them); how many changed."""
        report = self._papercast.index_follower().catch_up(max_batches=FOLLOW_BATCHES)
        return report.papers_indexed + report.vectors_indexed

    def refresh_similar(self) -> int:
        """As the index writer, precompute similar papers; only once the embedding backlog is
        drained, so that lists are computed against the whole index."""
        follower = self._papercast.index_follower()
        vectors = follower.vectors
        if not follower.is_writer or vectors is None or not vectors.pending_neighbours():
            return 0
        if self.embedding_wanted():
            return 0
        return follower.refresh_neighbours(max_rows=NEIGHBOURS_PER_ROUND)

    def embedding_wanted(self) -> bool:
        """Whether any paper waits for a vector from the configured encoder (one cheap read)."""
        model_id = self._papercast.embedding_model_id()
        if model_id is None:  # a TF-IDF encoder not fitted yet: the first job fits it on the catalog
            return self._papercast.papers.count() > 0
        return bool(self._papercast.embedding_store().pending(model_id, 1))

    def embed_backlog(self, context: JobContext) -> JobOutcome:
        """Embed up to `embed_batch` pending papers, then continue as a new slice if more wait."""
        service = self._papercast.embedding_service()
        report = service.catch_up(batch_size=service.preferred_batch_size, limit=self._embed_batch,
                                  should_stop=context.stopping.is_set)
        log.info("worker.embed embedded=%d refreshed=%d remaining=%d model=%s", report.embedded,
                 report.refreshed, report.remaining, report.model_id)
        # A slice that got nothing done (papers changing under it) leaves the rest to the next period.
        more = report.remaining > 0 and report.processed > 0
        return JobOutcome.CONTINUE if more else JobOutcome.DONE

    def mail_due(self) -> bool:
        """Whether a message in the outbox is due now (one read of its state index)."""
        due_at = self._papercast.mail_outbox().next_due_at()
        return due_at is not None and due_at <= self._papercast.clock.now()

    def send_mail(self, context: JobContext) -> JobOutcome:
        """Send up to `MAIL_PER_SLICE` due messages; continue as a new slice if that many went.
        Each message is leased by the outbox itself, so a second sender never sends it too."""
        report = self._papercast.outbox_sender().send_due(MAIL_PER_SLICE, should_stop=context.stopping.is_set)
        more = report.handled >= MAIL_PER_SLICE and report.stopped is None
        return JobOutcome.CONTINUE if more else JobOutcome.DONE

    def prune_accounts(self, _context: JobContext) -> None:
        links, sessions = self._papercast.accounts().prune()
        log.info("worker.prune_accounts links_deleted=%d sessions_deleted=%d", links, sessions)

    def scores_stale(self) -> bool:
        """Whether the stored trending scores were made with other weights or tau (one read)."""
        return not self._papercast.trending.scores_are_current()

    def rescore_trending(self, context: JobContext) -> None:
        done = self._papercast.trending.rescore(should_stop=context.stopping.is_set)
        log.info("worker.rescore_trending papers=%d", done)

    def digests_wanted(self) -> bool:
        """Whether anyone gets digests (one indexed read): an install without subscribers writes
        no planning jobs."""
        return bool(self._papercast.subscriptions().confirmed_page(limit=1))

    def plan_digests(self, _context: JobContext) -> None:
        """Queue the digests due now (their outcomes recorded first); the send-mail task sends them."""
        report = self._papercast.digests().plan()
        log.info("worker.plan_digests queued=%d skipped_empty=%d suppressed=%d", report.queued,
                 report.skipped_empty, report.suppressed)

    def refit_recommendations(self, context: JobContext) -> None:
        """Refit one reader's model (enqueued with the reader's signals; a disabled account, or a
        model already at the reader's signal version, is skipped inside)."""
        user_id = context.payload.get("user_id")
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            raise JobCannotSucceed(f"refit-recommendations needs an integer user_id, got {user_id!r}")
        report = self._papercast.recommendations().refit(user_id)
        log.info("worker.refit_recommendations user=%d fitted=%s skipped=%s", user_id, report.fitted,
                 report.skipped)

    def prune_jobs(self, _context: JobContext) -> None:
        keep = timedelta(days=self._papercast.settings.jobs_keep_days)
        pruned = self._papercast.jobs.prune(self._papercast.clock.now() - keep)
        log.info("worker.prune done_jobs_deleted=%d", pruned)


def periodic_tasks(duties: WorkerDuties, interval: float, harvests: tuple[PeriodicTask, ...] = (),
                   digest_every: timedelta = timedelta(minutes=5)) -> tuple[PeriodicTask, ...]:
    """The schedule: every periodic task, where it runs and how often (one scheduled harvest per
    followed source joins it)."""
    every_round = Every(timedelta(seconds=interval))
    return (*harvests,
        PeriodicTask("follow-index", every_round, Scope.LOCAL, duty=duties.follow_index,
                     description="index new and changed papers and vectors, or reload the writer's"),
        PeriodicTask("similar-papers", every_round, Scope.LOCAL, duty=duties.refresh_similar,
                     description="the index writer precomputes similar papers once the backlog is embedded"),
        PeriodicTask("embed-backlog", Every(EMBED_EVERY), Scope.CLUSTER, wanted=duties.embedding_wanted,
                     description="embed papers whose vector is missing or stale"),
        PeriodicTask("send-mail", every_round, Scope.CLUSTER, wanted=duties.mail_due,
                     description="send the mail outbox's due messages"),
        PeriodicTask("plan-digests", Every(digest_every), Scope.CLUSTER, wanted=duties.digests_wanted,
                     description="queue the digests whose send hour has come, every "
                                 "PAPERCAST_DIGEST_PLAN_MINUTES"),
        PeriodicTask("prune-jobs", Every(PRUNE_EVERY), Scope.CLUSTER,
                     description="delete done jobs older than PAPERCAST_JOBS_KEEP_DAYS"),
        PeriodicTask("prune-accounts", Every(PRUNE_EVERY), Scope.CLUSTER,
                     description="delete expired sessions and sign-in links a day past their end"),
        PeriodicTask("rescore-trending", Every(RESCORE_EVERY), Scope.CLUSTER, wanted=duties.scores_stale,
                     description="score every paper again after the trending weights or tau changed"),
    )


def job_kinds(duties: WorkerDuties) -> tuple[JobKind, ...]:
    """The job kinds papercast itself runs (task modules add more)."""
    return (
        JobKind("embed-backlog", duties.embed_backlog, RetryPolicy(max_attempts=5)),
        JobKind("send-mail", duties.send_mail, RetryPolicy(max_attempts=5)),
        JobKind("plan-digests", duties.plan_digests, RetryPolicy(max_attempts=3)),
        JobKind("prune-jobs", duties.prune_jobs, RetryPolicy(max_attempts=3)),
        JobKind("prune-accounts", duties.prune_accounts, RetryPolicy(max_attempts=3)),
        JobKind("rescore-trending", duties.rescore_trending, RetryPolicy(max_attempts=3)),
        JobKind("refit-recommendations", duties.refit_recommendations, RetryPolicy(max_attempts=3)),
    )


def build_worker(papercast: Papercast, *, interval: float | None = None, embed_batch: int | None = None,
                 owner: str | None = None) -> Worker:
    """A worker over `papercast` with today's tasks and those of PAPERCAST_WORKER_TASK_MODULES;
    `interval` and `embed_batch` override the settings."""
    settings = papercast.settings
    config = _config(interval if interval is not None else settings.worker_interval,
                     settings.worker_lease_seconds, settings.worker_grace_seconds)
    duties = WorkerDuties(papercast, embed_batch or settings.worker_embed_batch)
    harvests = ScheduledHarvests(papercast)
    registry = TaskRegistry()
    for kind in (*job_kinds(duties), harvests.job_kind()):
        registry.add(kind)
    load_task_modules(registry, settings.worker_task_modules, papercast)
    tasks = periodic_tasks(duties, config.interval, harvests.tasks(),
                           timedelta(minutes=settings.digest_plan_minutes))
    return Worker(papercast.jobs, registry, tasks, papercast.clock, config, owner=owner,
                  wakeup=papercast.job_enqueued)


def _config(interval: float, lease: float, grace: float) -> WorkerConfig:
    for name, value, least in (("PAPERCAST_WORKER_INTERVAL", interval, 0.01),
                               ("PAPERCAST_WORKER_LEASE_SECONDS", lease, 1.0),
                               ("PAPERCAST_WORKER_GRACE_SECONDS", grace, 0.0)):
        if value < least:
            raise InvalidInput(f"{name} must be at least {least}, not {value}", field=name)
    return WorkerConfig(interval=interval, lease=timedelta(seconds=lease), grace=grace)
