"""The Jinja2 environment of the pages: autoescaping always on, URL helpers, and the math filter.

Templates never mark metadata safe themselves; the only markup that reaches a page from a
paper is what `render_text` (`|math`) builds, which escapes everything but the MathML it made,
and the author and category links below, built from values that each went through
`escape`. Those two are Python rather than Jinja macros: a paper page draws them for every
similar paper, and a macro call costs several times as much.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime
from functools import cache
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from starlette.templating import Jinja2Templates

from papercast.domain.latex_text import accents_to_unicode
from papercast.domain.papers import Author, Paper
from papercast.web.csrf import csrf_token
from papercast.web.math import render_snippet, render_text
from papercast.web.readers import current_reader

WEB_DIR = Path(str(files("papercast.web")))
TEMPLATE_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"


def paper_url(paper_id: str) -> str:
    """`/papers/2401.01234`; old-style ids keep their slash: `/papers/hep-th/9901001`."""
    return "/papers/" + quote(paper_id, safe="/")


def author_url(name: str) -> str:
    return "/authors/" + quote(name, safe="")


def category_url(category: str) -> str:
    return "/categories/" + quote(category, safe="")


def arxiv_links(paper: Paper) -> dict[str, str] | None:
    """arXiv's abstract and PDF pages of an arXiv paper; None for local ids."""
    if not paper.is_arxiv:
        return None
    return {"abs": f"https://arxiv.org/abs/{paper.paper_id}", "pdf": f"https://arxiv.org/pdf/{paper.paper_id}"}


def doi_url(doi: str) -> str:
    return "https://doi.org/" + quote(doi.strip(), safe="/:;()._-")


@cache
def static_url(name: str) -> str:
    """`/static/NAME?v=HASH`: a new file gets a new URL, so browsers may cache for long."""
    digest = hashlib.blake2b((STATIC_DIR / name).read_bytes(), digest_size=6).hexdigest()
    return f"/static/{quote(name)}?v={digest}"


def human_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return f"{value:%d %b %Y}".lstrip("0")


def first_version_date(paper: Paper) -> date | None:
    return paper.announced_on or next(
        (v.submitted_at.date() for v in paper.versions if v.submitted_at is not None), None)


def author_links(authors: Sequence[Author], limit: int = 8) -> Markup:
    """The first `limit` authors linked to their pages (LaTeX accents as letters), "and N more"."""
    links = ", ".join(f'<a href="{escape(author_url(author.name))}">'
                      f'{escape(accents_to_unicode(author.name))}</a>' for author in authors[:limit])
    if len(authors) > limit:
        links += f' <span class="muted">and {len(authors) - limit} more</span>'
    return Markup(links)  # noqa: S704 - every value in it went through escape()


def category_links(categories: Sequence[str]) -> Markup:
    """Each category as a tag linked to its page."""
    return Markup("".join(f'<a class="tag" href="{escape(category_url(category))}">{escape(category)}</a>'
                          for category in categories))  # noqa: S704 - escaped above


def build_templates() -> Jinja2Templates:
    environment = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html", "xml"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    environment.filters.update(math=render_text, snippet=render_snippet, tex=accents_to_unicode,
                               human_date=human_date)
    environment.globals.update(
        paper_url=paper_url, author_url=author_url, category_url=category_url,
        arxiv_links=arxiv_links, doi_url=doi_url, static_url=static_url,
        first_version_date=first_version_date, author_links=author_links, category_links=category_links,
        current_reader=current_reader, csrf_token=csrf_token,
    )
    return Jinja2Templates(env=environment)
