"""What operators watch, as data: whether the database is usable, and the state of the background
work (jobs by kind and state, jobs waiting for a worker, the mail outbox), for `/healthz` and
`/metrics`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class HealthStatus:
    """`database`: `ok` or `unreachable`; `schema`: `current`, `out of date` or `unknown`."""

    database: str
    schema: str
    detail: str = ""
    revision: str | None = None

    @property
    def ok(self) -> bool:
        return self.database == "ok" and self.schema == "current"


@dataclass(frozen=True)
class JobStats:
    """Jobs per (kind, state), and those waiting for a worker now: how many, and since when."""

    by_kind_and_state: dict[tuple[str, str], int] = field(default_factory=dict)
    due: int = 0
    oldest_due_at: datetime | None = None


@dataclass(frozen=True)
class OperationsSnapshot:
    """Everything `/metrics` reports beyond HTTP traffic, read when it is scraped."""

    papers: int
    jobs: JobStats
    oldest_due_age_seconds: float
    mail_by_state: dict[str, int]
    embedding_backlog: tuple[str, int] | None = None  # (model id, papers waiting for its vector)
