"""Links to the previous and next page: in API bodies, in `Link` headers, and on pages."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import URL
from starlette.requests import Request

from papercast.services.listings import MAX_OFFSET


@dataclass(frozen=True)
class PageLinks:
    previous: str | None = None
    next: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {"prev": self.previous, "next": self.next}

    def header(self) -> str | None:
        """The RFC 8288 `Link` header value, or None without neighbours."""
        pairs = (("prev", self.previous), ("next", self.next))
        parts = [f'<{url}>; rel="{rel}"' for rel, url in pairs if url]
        return ", ".join(parts) or None


def offset_links(request: Request, offset: int, limit: int, total: int) -> PageLinks:
    """Absolute URLs of the neighbouring windows of an offset/limit listing."""
    url = request.url
    previous = None
    if offset > 0:
        previous = str(url.include_query_params(offset=max(0, offset - limit), limit=limit))
    following = None
    if offset + limit < total and offset + limit <= MAX_OFFSET:
        following = str(url.include_query_params(offset=offset + limit, limit=limit))
    return PageLinks(previous, following)


def page_links(request: Request, page: int, has_next: bool) -> PageLinks:
    """Relative URLs (`/search?q=…&page=N`) of the neighbouring pages of a 1-based page listing."""
    url = request.url
    previous = _relative(url.include_query_params(page=page - 1)) if page > 1 else None
    following = _relative(url.include_query_params(page=page + 1)) if has_next else None
    return PageLinks(previous, following)


def _relative(url: URL) -> str:
    return f"{url.path}?{url.query}" if url.query else url.path
