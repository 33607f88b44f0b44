"""Scheduled harvests as worker tasks: for every followed source (`PAPERCAST_HARVEST_FOLLOW`) a
cluster task whose periods are arXiv's announcements, and the `harvest` job kind that runs one.

Each announcement enqueues one job per source under `harvest:<source>@<announcement>`, to run
`PAPERCAST_HARVEST_DELAY_MINUTES` later; the scheduler enqueues none while one of the source's
harvests is still open. A running harvest holds the lock `harvest:<source>` (`JobStore.take_lock`),
so a second job for the same source (an operator's retry, two periods enqueued at once) waits
instead of harvesting beside it, on any machine. A worker that starts after missed announcements
enqueues the latest one only: the harvest continues from the source's cursor, so one run covers
every announcement since the last.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from papercast.domain.errors import InvalidInput
from papercast.domain.following import FollowedSource, parse_followed_source
from papercast.domain.jobs import JobBusy, JobCannotSucceed, JobOutcome, RetryPolicy
from papercast.worker.registry import JobContext, JobKind
from papercast.worker.schedule import PeriodicTask, Scope

if TYPE_CHECKING:
    from papercast.bootstrap import Papercast

log = logging.getLogger("papercast.worker")

HARVEST_KIND = "harvest"
# How long a harvest job waits when another job is harvesting its source.
BUSY_RETRY = timedelta(minutes=1)
# A harvest that fails (arXiv down for longer than the HTTP client's retries) tries again: 1 min,
# 2, 4, ... up to an hour, then is kept as dead; the next announcement's harvest starts afresh.
HARVEST_RETRY = RetryPolicy(max_attempts=6, backoff_initial=timedelta(minutes=1),
                            backoff_max=timedelta(hours=1))


class ScheduledHarvests:
    """The followed sources of one papercast as periodic tasks, and the job that harvests one."""

    def __init__(self, papercast: Papercast) -> None:
        self._papercast = papercast

    def tasks(self) -> tuple[PeriodicTask, ...]:
        following = self._papercast.following
        delay = timedelta(minutes=self._papercast.settings.harvest_delay_minutes)
        return tuple(
            PeriodicTask(f"{HARVEST_KIND}:{source.name}", following.calendar, Scope.CLUSTER,
                         payload={"source": source.name}, kind=HARVEST_KIND, delay=delay,
                         description=f"harvest {source.name} {following.calendar.describe()}")
            for source in self._papercast.followed_sources)

    def job_kind(self) -> JobKind:
        return JobKind(HARVEST_KIND, self.run, HARVEST_RETRY,
                       description="harvest one followed source from its cursor")

    def run(self, context: JobContext) -> JobOutcome:
        """Harvest the job's source through the latest announcement; again at once when it
        stopped half-way or an announcement came while it ran."""
        source = _source(context)
        holder = self._papercast.jobs.take_lock(f"{HARVEST_KIND}:{source.name}", context.job.id)
        if holder is not None:
            raise JobBusy(f"job {holder} is harvesting {source.name}", BUSY_RETRY)
        with self._papercast.harvest_sources() as remote:
            report = self._papercast.following.harvest(source, remote, should_stop=context.stopping.is_set)
        return JobOutcome.CONTINUE if not report.complete or report.behind else JobOutcome.DONE


def _source(context: JobContext) -> FollowedSource:
    try:
        return parse_followed_source(str(context.payload.get("source", "")))
    except InvalidInput as error:
        raise JobCannotSucceed(f"job {context.job.id}: {error}") from error
