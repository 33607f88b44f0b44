"""Progress displays for long commands on a terminal (silent when output is redirected)."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from papercast.domain.ingest import IngestReport


class TerminalProgress:
    """A rich progress display on stderr, started and stopped as a context manager; or nothing."""

    def __init__(self, progress: Progress | None, description: str = "", total: int | None = None) -> None:
        self._progress = progress
        self._task: TaskID | None = (
            progress.add_task(description, total=total) if progress is not None else None
        )

    def __enter__(self) -> Self:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()

    def _show(self, **fields: Any) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, **fields)


def stderr_console() -> Console:
    return Console(stderr=True)


class IngestProgress(TerminalProgress):
    def __init__(self, label: str, enabled: bool) -> None:
        progress = (Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                             console=stderr_console(), transient=True) if enabled else None)
        super().__init__(progress, label)
        self._label = label

    def update(self, report: IngestReport) -> None:
        self._show(description=f"{self._label}: {report.seen:,} records ({report.new:,} new, "
                               f"{report.updated:,} updated, {report.rejected:,} rejected)")
