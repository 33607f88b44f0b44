"""A progress line for long ingests on a terminal (silent when output is redirected)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from papercast.domain.ingest import IngestReport


class IngestProgress:
    def __init__(self, label: str, enabled: bool) -> None:
        self._progress = (
            Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                     console=Console(stderr=True), transient=True)
            if enabled else None
        )
        self._label = label
        self._task = self._progress.add_task(label) if self._progress else None

    def __enter__(self) -> IngestProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, report: IngestReport) -> None:
        if self._progress is None or self._task is None:
            return
        self._progress.update(
            self._task,
            description=f"{self._label}: {report.seen:,} records ({report.new:,} new, "
                        f"{report.updated:,} updated, {report.rejected:,} rejected)",
        )
