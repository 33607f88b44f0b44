"""Paged remote sources: arXiv OAI-PMH, the arXiv query API and Hugging Face daily papers.

Each turns a cursor state into the next request, and the response into records plus the
state after it. The harvest service commits that state with the page's papers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from papercast.domain.errors import InvalidInput, SourceError
from papercast.domain.ingest import SourceItem
from papercast.ports import Fetcher
from papercast.sources.arxiv_api import parse_api_feed
from papercast.sources.arxiv_oai import parse_oai_response
from papercast.sources.hf_daily import parse_hf_daily

log = logging.getLogger("papercast.harvest")

METADATA_PREFIXES = ("arXivRaw", "arXiv", "oai_dc")
# arXiv's API: at most 2,000 results a request and 30,000 for one query.
API_MAX_PAGE = 2_000
API_MAX_TOTAL = 30_000


@dataclass
class Page:
    items: list[SourceItem]
    next_state: dict[str, str]
    done: bool
    description: str = ""


@dataclass
class OaiHarvest:
    """ListRecords over arXiv's OAI-PMH, following resumption tokens.

    A finished harvest stores the date of the server's last response as the next `from`
    (arXiv's advice for incremental harvests); an expired token restarts from the stored `from`.
    """

    fetcher: Fetcher
    base_url: str
    set_spec: str = ""
    from_date: str = ""
    until_date: str = ""
    metadata_prefix: str = "arXivRaw"
    name: str = "arxiv-oai"
    _restarts: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.metadata_prefix not in METADATA_PREFIXES:
            raise InvalidInput(f"metadata prefix must be one of {', '.join(METADATA_PREFIXES)}",
                               field="metadata_prefix")
        for label, value in (("--from", self.from_date), ("--until", self.until_date)):
            if value:
                _check_date(value, label)

    def cursor_name(self) -> str:
        return f"oai {self.base_url} set={self.set_spec or '*'} prefix={self.metadata_prefix}"

    def initial_state(self) -> dict[str, str]:
        return {"from": self.from_date, "until": self.until_date, "resumption_token": ""}

    def resume_state(self, stored: dict[str, str]) -> dict[str, str]:
        """Continue an interrupted list; after a finished one, start from its stored `from`
        unless this run names its own dates."""
        if stored.get("resumption_token"):
            return dict(stored)
        if self.from_date or self.until_date:
            return self.initial_state()
        return {"from": stored.get("from", ""), "until": "", "resumption_token": ""}

    def fetch(self, state: dict[str, str]) -> Page:
        token = state.get("resumption_token", "")
        params = {"verb": "ListRecords"}
        if token:
            params["resumptionToken"] = token  # an exclusive argument: only `verb` may go with it
        else:
            params["metadataPrefix"] = self.metadata_prefix
            for key, value in (("set", self.set_spec), ("from", state.get("from", "")),
                               ("until", state.get("until", ""))):
                if value:
                    params[key] = value
        try:
            page = parse_oai_response(self.fetcher.get(self.base_url, params), origin=self.base_url)
        except SourceError as error:
            return self._page_for_error(error, state)
        if token:
            self._restarts = 0  # only a token that worked proves the list is moving again
        # The next incremental run starts from the day this list began (records changed while
        # it ran are fetched again, harmlessly), or from `until` when the run was bounded.
        started = state.get("started") or (page.response_date or "")[:10] or state.get("from", "")
        if page.resumption_token:
            next_state = {**state, "resumption_token": page.resumption_token, "started": started}
            where = f"cursor={page.cursor} of {page.complete_list_size}"
            return Page(page.items, next_state, done=False, description=where)
        next_from = min(started, state["until"]) if state.get("until") and started else (
            started or state.get("until", ""))
        return Page(page.items, {"from": next_from, "until": "", "resumption_token": ""}, done=True,
                    description="last page")

    def _page_for_error(self, error: SourceError, state: dict[str, str]) -> Page:
        if error.code == "noRecordsMatch":
            return Page([], {**state, "resumption_token": ""}, done=True, description="no records match")
        if error.code == "badResumptionToken" and state.get("resumption_token") and self._restarts == 0:
            self._restarts += 1
            log.warning("harvest.token_expired restarting from=%s", state.get("from") or "the beginning")
            restart = {key: value for key, value in state.items() if key != "started"}
            return Page([], {**restart, "resumption_token": ""}, done=False, description="token expired")
        raise error


@dataclass
class ArxivApiHarvest:
    """The arXiv query API, paged by `start` up to arXiv's 30,000-result limit."""

    fetcher: Fetcher
    base_url: str
    query: str = ""
    id_list: str = ""
    page_size: int = 100
    max_results: int = 1_000
    sort_by: str = "submittedDate"
    name: str = "arxiv-api"

    def __post_init__(self) -> None:
        if not self.query and not self.id_list:
            raise InvalidInput("give --query or --id-list", field="query")
        if not 1 <= self.page_size <= API_MAX_PAGE:
            raise InvalidInput(f"--page-size must be 1..{API_MAX_PAGE}", field="page_size")
        if not 1 <= self.max_results <= API_MAX_TOTAL:
            raise InvalidInput(f"--max-results must be 1..{API_MAX_TOTAL}", field="max_results")

    def cursor_name(self) -> str:
        return f"api {self.base_url} query={self.query} ids={self.id_list}"

    def initial_state(self) -> dict[str, str]:
        return {"start": "0"}

    def resume_state(self, stored: dict[str, str]) -> dict[str, str]:
        return self.initial_state() if stored.get("done") else dict(stored)

    def fetch(self, state: dict[str, str]) -> Page:
        start = int(state.get("start", "0"))
        if start >= self.max_results:
            return Page([], {"start": str(start), "done": "1"}, True, description="max results reached")
        size = min(self.page_size, self.max_results - start)
        params = {"start": str(start), "max_results": str(size), "sortBy": self.sort_by,
                  "sortOrder": "descending"}
        if self.query:
            params["search_query"] = self.query
        if self.id_list:
            params["id_list"] = self.id_list
        try:
            page = parse_api_feed(self.fetcher.get(self.base_url, params), origin=self.base_url)
        except SourceError as error:
            if error.body:  # arXiv answers a bad query with HTTP 400 and an error feed
                try:
                    parse_api_feed(error.body, origin=self.base_url)
                except SourceError as api_error:
                    if api_error.code == "arxiv-api-error":
                        raise api_error from error
            raise
        end = start + len(page.items)
        total = page.total_results if page.total_results is not None else end
        done = not page.items or end >= min(total, self.max_results)
        next_state = {"start": str(end), "done": "1" if done else ""}
        return Page(page.items, next_state, done, description=f"results {start}-{end} of {total}")


@dataclass
class HfDailyHarvest:
    """Hugging Face daily papers, one request per day from `first_day` to `last_day`."""

    fetcher: Fetcher
    base_url: str
    first_day: date
    last_day: date
    name: str = "hf-daily"

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise InvalidInput("--until is before --from", field="until")

    def cursor_name(self) -> str:
        return f"hf-daily {self.base_url} {self.first_day}..{self.last_day}"

    def initial_state(self) -> dict[str, str]:
        return {"next_day": self.first_day.isoformat()}

    def resume_state(self, stored: dict[str, str]) -> dict[str, str]:
        return self.initial_state() if stored.get("done") else dict(stored)

    def fetch(self, state: dict[str, str]) -> Page:
        day = date.fromisoformat(state["next_day"])
        items = parse_hf_daily(self.fetcher.get(self.base_url, {"date": day.isoformat()}),
                               origin=f"{self.base_url}?date={day}")
        following = day + timedelta(days=1)
        done = following > self.last_day
        return Page(items, {"next_day": following.isoformat(), "done": "1" if done else ""}, done,
                    description=f"day {day}")


def _check_date(value: str, label: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise InvalidInput(f"{label} must be a date like 2024-01-31, not {value!r}", field=label) from error
