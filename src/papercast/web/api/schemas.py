"""Response shapes of the JSON API, for the OpenAPI document (and so for schemathesis).

Handlers build plain dicts with the presenters and return them as JSON; these models only
describe them, and the API tests check that what is sent matches what is described.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from papercast.web.problems import PROBLEM_MEDIA_TYPE


class AuthorName(BaseModel):
    name: str
    last: str
    first: str
    suffix: str


class Version(BaseModel):
    version: int
    submitted_at: str | None = Field(description="ISO 8601 time the version was submitted, when known")


class Signal(BaseModel):
    source: str
    upvotes: int
    comments: int
    github_stars: int | None
    observed_on: date | None


class PaperLinks(BaseModel):
    self: str = Field(description="this paper in the API")
    html: str = Field(description="this paper's page")
    abs: str | None = Field(description="the paper on arXiv (arXiv papers only)")
    pdf: str | None = Field(description="the PDF on arXiv (arXiv papers only)")


class Paper(BaseModel):
    id: str = Field(description="canonical id: 2401.01234, hep-th/9901001, or a local id")
    title: str = Field(description="as written; may contain LaTeX ($...$)")
    authors: list[AuthorName]
    abstract: str
    categories: list[str] = Field(description="primary category first")
    primary_category: str
    versions: list[Version]
    latest_version: int | None
    comments: str | None
    journal_ref: str | None
    doi: str | None
    report_no: str | None
    license: str | None
    withdrawn: bool
    announced_on: date | None = Field(description="date of version 1")
    sources: list[str]
    signals: list[Signal]
    content_hash: str
    links: PaperLinks


class PageLinks(BaseModel):
    prev: str | None
    next: str | None


class PaperList(BaseModel):
    papers: list[Paper]
    total: int
    offset: int
    limit: int
    links: PageLinks


class AuthorRef(BaseModel):
    name: str
    key: str


class AuthorPapers(PaperList):
    author: AuthorRef


class CategoryPapers(PaperList):
    category: str


class Segment(BaseModel):
    text: str
    match: bool


class SearchResult(BaseModel):
    paper: Paper
    score: float | None
    snippet: list[Segment] = Field(description="a part of the abstract; `match` marks query words")


class SearchResults(BaseModel):
    query: str
    sort: str
    mode: str = Field(description="how the results were found (hybrid, keyword, catalog, ...)")
    degraded: bool = Field(description="true when meaning could not be searched (the encoder failed or "
                                       "was too slow) and keywords alone answered")
    similarity_floor: float | None = Field(
        description="the cosine a paper found by meaning alone (no keyword match) had to reach; "
                    "null when meaning was not searched")
    below_floor: int = Field(description="how many of the papers nearest in meaning fell below the floor")
    results: list[SearchResult]
    total_estimate: int = Field(description="how many results the query has that can be paged through "
                                            "(at most 1,000); the same on every page")
    offset: int
    limit: int
    warnings: list[str]
    took_ms: float
    links: PageLinks


class SimilarPapers(BaseModel):
    paper_id: str
    mode: str
    results: list[SearchResult]


class Me(BaseModel):
    id: int = Field(description="the account's id")
    email: str
    is_admin: bool
    via: str = Field(description="how the request was authorised: `session` (cookie) or `token` (Bearer)")
    scope: str = Field(description="`read`, or `write` (read and write); a session may write")


class ApiToken(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="the token's first characters, to tell tokens apart")
    scope: str
    created_at: str
    last_used_at: str | None


class ApiTokens(BaseModel):
    tokens: list[ApiToken]


MAX_LIST_ITEMS = 100  # the domain allows fewer; this only bounds what a request may carry
MAX_TEXT = 1000


class SubscriptionRequest(BaseModel):
    email: str | None = Field(None, max_length=MAX_TEXT,
                              description="the address; not needed (and not used) when signed in: a reader "
                                          "subscribes their account's address")
    name: str = Field("", max_length=MAX_TEXT, description="optional display name, one line")
    topics: list[str] = Field([], max_length=MAX_LIST_ITEMS,
                              description='searches in the query language: words, "phrases", -exclusions, '
                                          "author:, cat:, year:, id: (at most 20 with the categories)")
    categories: list[str] = Field([], max_length=MAX_LIST_ITEMS,
                                  description="arXiv categories (cs.LG), added as `cat:` topics")
    frequency: str = Field("daily", max_length=MAX_TEXT, description="`daily` or `weekly`")
    send_hour: int = Field(8, description="hour of the day the digest is sent, 0 to 23")
    time_zone: str = Field("UTC", max_length=MAX_TEXT, description="IANA time zone of `send_hour`, like "
                                                                   "Europe/Berlin")


class SubscriptionChanges(BaseModel):
    """Only what is given changes; `topics` and `categories` together replace the topics."""

    topics: list[str] | None = Field(None, max_length=MAX_LIST_ITEMS)
    categories: list[str] | None = Field(None, max_length=MAX_LIST_ITEMS)
    frequency: str | None = Field(None, max_length=MAX_TEXT)
    send_hour: int | None = None
    time_zone: str | None = Field(None, max_length=MAX_TEXT)
    paused: bool | None = Field(None, description="true pauses the digest, false resumes it")


class Subscription(BaseModel):
    id: int
    email: str
    name: str
    state: str = Field(description="unconfirmed, confirmed, paused, unsubscribed or suppressed")
    topics: list[str]
    frequency: str
    send_hour: int
    time_zone: str
    created_at: str
    confirmed_at: str | None
    consented_at: str | None


class SubscriptionAccepted(BaseModel):
    status: str = Field(description="always `accepted`, whatever the address")
    detail: str


class Points(BaseModel):
    points: float = Field(description="upvote_weight × upvotes + save_weight × saves + external_weight × "
                                      "external upvotes (the weights are on the about page)")
    upvotes: int = Field(description="upvotes by readers of this papercast (accounts in good standing)")
    saves: int = Field(description="saves to readers' libraries (accounts in good standing)")
    external_upvotes: int = Field(description="upvotes elsewhere (Hugging Face daily papers)")


class MarkResult(Points):
    paper_id: str
    upvoted: bool = Field(description="whether you upvoted the paper (after this request)")
    saved: bool = Field(description="whether the paper is in your library (after this request)")


class TrendingResult(Points):
    paper: Paper
    score: float | None = Field(description="log10(1 + points) + seconds from 2020-01-01 to the first "
                                            "announcement / tau: higher trends higher")


class TrendingList(BaseModel):
    window: str = Field(description="trending (by score), or today, week, month (by points)")
    since: str | None = Field(description="the window's first instant (UTC); null for trending")
    results: list[TrendingResult]
    total: int
    offset: int
    limit: int
    links: PageLinks


class LibraryEntry(BaseModel):
    paper: Paper
    saved_at: str = Field(description="when you saved it (ISO 8601)")


class Library(BaseModel):
    papers: list[LibraryEntry] = Field(description="newest save first")
    total: int
    offset: int
    limit: int
    links: PageLinks


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldError] | None = None


PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": PROBLEM_CONTENT}


def add_problem_schemas(spec: dict[str, Any]) -> dict[str, Any]:
    """Put `Problem` (and what it refers to) into the document's components; routes refer to it."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    components.update(schema.pop("$defs", {}))
    components["Problem"] = schema
    return spec


def responses(model: type[BaseModel], *errors: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a read route: `model` on 200, problems on the errors it can answer."""
    return {200: {"model": model, "description": "OK"}, **problem_responses(*errors)}


def problem_responses(*errors: int) -> dict[int | str, dict[str, Any]]:
    """Problem documents for `errors` and for what any route can answer (422, 429, 500)."""
    texts = {400: "Invalid input", 401: "Not signed in (no session, no valid Bearer token)",
             403: "Not allowed (a read-only token writing, a cross-site form)", 404: "Not found",
             409: "Not possible in the subscription's state",
             422: "Invalid parameters", 429: "Too many requests (see Retry-After)", 500: "Unexpected error"}
    return {status: _problem(texts[status]) for status in (*errors, 422, 429, 500)}
