"""Job kinds: the handler and retry policy for each kind of job, and what a handler is given.

A worker claims only the kinds registered with it, so a job of a kind no running worker knows
stays due (and shows in `papercast jobs list`) instead of failing.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from papercast.domain.errors import PapercastError
from papercast.domain.jobs import Job, JobOutcome, RetryPolicy, validate_kind


@dataclass(frozen=True)
class JobContext:
    """What a handler gets: its job, and `stopping`, set when the worker shuts down. A handler
    that works in steps checks it between them and returns `JobOutcome.CONTINUE` for the rest;
    one that does not is waited for up to the grace period, then its lease is released."""

    job: Job
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload


# Returns None or DONE when the job is done, CONTINUE for "run me again"; raises when it failed.
Handler = Callable[[JobContext], JobOutcome | None]


@dataclass(frozen=True)
class JobKind:
    name: str
    run: Handler
    retry: RetryPolicy = RetryPolicy()
    description: str = ""

    def __post_init__(self) -> None:
        validate_kind(self.name)


class TaskRegistry:
    """The job kinds one worker runs."""

    def __init__(self) -> None:
        self._kinds: dict[str, JobKind] = {}

    def add(self, kind: JobKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"job kind {kind.name!r} is registered twice")
        self._kinds[kind.name] = kind

    def get(self, name: str) -> JobKind:
        return self._kinds[name]

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def __iter__(self) -> Iterator[JobKind]:
        return iter(self._kinds.values())


def load_task_modules(registry: TaskRegistry, modules: str, context: Any) -> None:
    """Let each module named in `modules` (comma-separated, `PAPERCAST_WORKER_TASK_MODULES`) add
    job kinds: it must define `register_tasks(registry, papercast)`. The hook for extensions, and
    how tests give real worker processes a job kind of their own."""
    for name in (part.strip() for part in modules.split(",")):
        if not name:
            continue
        try:
            register = importlib.import_module(name).register_tasks
        except (ImportError, AttributeError) as error:
            raise PapercastError(f"cannot load worker task module {name!r} "
                                 f"(PAPERCAST_WORKER_TASK_MODULES): {error}") from error
        register(registry, context)
