"""Harvest: read a paged remote source into the catalog, committing a cursor with each page.

The cursor is written in the same transaction as the page's papers, so a run that stops
anywhere continues, next time, right after the last page that was committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from papercast.domain.ingest import IngestReport
from papercast.ports import CursorStore, HarvestPage, PagedSource
from papercast.services.ingest import IngestService

log = logging.getLogger("papercast.harvest")

PageHook = Callable[[HarvestPage, IngestReport], None]


@dataclass
class HarvestReport:
    """An ingest report plus how the harvest went: pages read, whether it resumed or finished."""

    ingest: IngestReport = field(default_factory=IngestReport)
    pages: int = 0
    resumed: bool = False
    complete: bool = False
    cursor: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {**self.ingest.as_dict(), "pages": self.pages, "resumed": self.resumed,
                "complete": self.complete, "cursor": self.cursor}


class HarvestService:
    def __init__(self, ingest: IngestService, cursors: CursorStore) -> None:
        self._ingest = ingest
        self._cursors = cursors

    def harvest(self, source: PagedSource, *, max_pages: int | None = None, restart: bool = False,
                on_page: PageHook | None = None,
                should_stop: Callable[[], bool] | None = None) -> HarvestReport:
        """Fetch pages until the source is done (or `max_pages`, or `should_stop` says so between
        pages), each page committed with its cursor."""
        report = HarvestReport()
        name = source.cursor_name()
        stored = None if restart else self._cursors.get_cursor(name)
        state = source.resume_state(stored) if stored else source.initial_state()
        report.resumed = bool(stored) and state != source.initial_state()
        log.info("harvest.start source=%s cursor=%s resumed=%s", source.name, name, report.resumed)
        while max_pages is None or report.pages < max_pages:
            page = source.fetch(state)
            page_report = self._ingest.ingest_batch(list(page.items), source.name,
                                                    cursor=(name, page.next_state))
            report.ingest.add(page_report)
            report.pages += 1
            state = page.next_state
            log.info("harvest.page source=%s page=%d %s new=%d updated=%d rejected=%d", source.name,
                     report.pages, page.description, page_report.new, page_report.updated,
                     page_report.rejected)
            if on_page is not None:
                on_page(page, report.ingest)
            if page.done:
                report.complete = True
                break
            if should_stop is not None and should_stop():
                log.info("harvest.stopped source=%s pages=%d; the next run resumes from the cursor",
                         source.name, report.pages)
                break
        report.cursor = state
        return report
