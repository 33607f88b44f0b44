"""The few interfaces services depend on; adapters implement them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from papercast.domain.ingest import SourceItem
from papercast.domain.papers import Outcome, Paper


class PaperSource(Protocol):
    """One input format: yields records and the rejections it found while parsing.

    `name` is what papers remember as their source (`arxiv-oai`, `hf-daily`, ...).
    """

    name: str

    def items(self) -> Iterator[SourceItem]: ...


class PaperRepository(Protocol):
    """Stored papers. Writes happen in `save_batch`, one transaction per batch."""

    def get_many(self, paper_ids: Sequence[str]) -> dict[str, Paper]: ...

    def get(self, paper_id: str) -> Paper | None: ...

    def save_batch(self, changes: Sequence[tuple[Outcome, Paper]]) -> None: ...

    def count(self) -> int: ...

    def iter_ids(self) -> Iterable[str]: ...


class CursorStore(Protocol):
    """Named harvest cursors (where the next run continues), written with the pages they follow."""

    def get_cursor(self, name: str) -> dict[str, str] | None: ...
