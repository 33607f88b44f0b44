"""What operators watch, read on demand: the catalog's size, the jobs by kind and state, the jobs
waiting for a worker (and for how long), the mail outbox and the embedding backlog."""

from __future__ import annotations

from collections.abc import Callable

from papercast.clock import Clock
from papercast.domain.operations import OperationsSnapshot
from papercast.ports import JobStatistics, MailStatistics, PaperCounter

# (model id, papers waiting for its vector), or None where no model is there to count for.
BacklogReader = Callable[[], tuple[str, int] | None]


class OperationsService:
    def __init__(self, papers: PaperCounter, jobs: JobStatistics, mail: MailStatistics, clock: Clock,
                 embedding_backlog: BacklogReader) -> None:
        self._papers = papers
        self._jobs = jobs
        self._mail = mail
        self._clock = clock
        self._embedding_backlog = embedding_backlog

    def snapshot(self) -> OperationsSnapshot:
        jobs = self._jobs.statistics()
        age = 0.0
        if jobs.oldest_due_at is not None:
            age = max(0.0, (self._clock.now() - jobs.oldest_due_at).total_seconds())
        return OperationsSnapshot(papers=self._papers.count(), jobs=jobs, oldest_due_age_seconds=age,
                                  mail_by_state=self._mail.state_counts(),
                                  embedding_backlog=self._embedding_backlog())
