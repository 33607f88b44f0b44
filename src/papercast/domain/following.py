"""The sources a papercast follows (`PAPERCAST_HARVEST_FOLLOW`): arXiv OAI-PMH sets and Hugging
Face daily papers, each harvested by the worker after every arXiv announcement."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from papercast.domain.errors import InvalidInput

FOLLOW_SETTING = "PAPERCAST_HARVEST_FOLLOW"
# arXiv's set specs: `cs`, `physics:hep-th`, `cs:cs:LG` (group:archive:category), `q-bio`.
_SET_SPEC = re.compile(r"[A-Za-z][A-Za-z0-9.-]*(?::[A-Za-z][A-Za-z0-9.-]*)*")
MAX_NAME_LENGTH = 100


class SourceKind(StrEnum):
    OAI = "oai"  # arXiv's OAI-PMH, one set
    HF_DAILY = "hf-daily"  # Hugging Face daily papers


@dataclass(frozen=True)
class FollowedSource:
    """One followed source; `name` (`oai:cs`, `hf-daily`) is how settings, jobs and locks call it."""

    kind: SourceKind
    set_spec: str = ""

    @property
    def name(self) -> str:
        return f"oai:{self.set_spec}" if self.kind is SourceKind.OAI else self.kind.value


def parse_followed_sources(text: str) -> tuple[FollowedSource, ...]:
    """`oai:cs,oai:physics:hep-th,hf-daily` as followed sources, in order; empty text follows
    nothing. Any item that is not one, or one named twice, is an error naming it."""
    sources: list[FollowedSource] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        source = parse_followed_source(item)
        if source in sources:
            raise InvalidInput(f"{FOLLOW_SETTING}: {item!r} is named twice", field=FOLLOW_SETTING)
        sources.append(source)
    return tuple(sources)


def parse_followed_source(item: str) -> FollowedSource:
    """One source: `oai:<set>` (an arXiv OAI-PMH set such as `cs` or `cs:cs:LG`) or `hf-daily`."""
    if item == SourceKind.HF_DAILY.value:
        return FollowedSource(SourceKind.HF_DAILY)
    kind, _, set_spec = item.partition(":")
    if kind != SourceKind.OAI.value:
        raise InvalidInput(f"{FOLLOW_SETTING}: {item!r} is not a source; use oai:<set> (oai:cs, "
                           f"oai:physics:hep-th, oai:cs:cs:LG) or hf-daily", field=FOLLOW_SETTING)
    if not _SET_SPEC.fullmatch(set_spec) or len(item) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{FOLLOW_SETTING}: {item!r} does not name an OAI-PMH set like cs, "
                           f"physics:hep-th or cs:cs:LG", field=FOLLOW_SETTING)
    return FollowedSource(SourceKind.OAI, set_spec)
