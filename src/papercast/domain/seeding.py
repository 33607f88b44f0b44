"""A reader's profile seeded from text: arXiv ids (any spelling, one or more a line) or a BibTeX
file. BibTeX is read with a small brace-matching scanner (no macros, no `@string` expansion,
nothing evaluated): from each entry the arXiv id (`eprint`, `arxivid`, `arxiv`, an arXiv `url`),
else the DOI, else the title. An entry naming none of them is reported, the others are used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from papercast.domain.errors import InvalidInput
from papercast.domain.papers import parse_paper_id

MAX_SEED_ENTRIES = 1_000
_ENTRY_START = re.compile(r"@\s*([A-Za-z]+)\s*[{(]")
_FIELD = re.compile(r"\s*([A-Za-z][A-Za-z0-9_:-]*)\s*=\s*")
_ARXIV_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/([^\s?#]+?)(?:\.pdf)?(?:[?#]|$)", re.IGNORECASE)
_DOI = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/)?(10\.\d{4,9}/\S+)$", re.IGNORECASE)
_LATEX_BRACES = re.compile(r"[{}]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class SeedEntry:
    """One paper the reader named: by arXiv id, DOI or title (at least one); `where` says where."""

    where: str
    paper_id: str | None = None
    doi: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class SeedProblem:
    where: str
    reason: str


def parse_seed(text: str) -> tuple[list[SeedEntry], list[SeedProblem]]:
    """The papers `text` names, and what could not be read; BibTeX when it holds an `@entry{`."""
    if _ENTRY_START.search(text):
        entries, problems = _bibtex(text)
    else:
        entries, problems = _identifiers(text)
    if len(entries) > MAX_SEED_ENTRIES:
        problems.append(SeedProblem(entries[MAX_SEED_ENTRIES].where,
                                    f"only the first {MAX_SEED_ENTRIES} papers are used"))
        entries = entries[:MAX_SEED_ENTRIES]
    return entries, problems


def _identifiers(text: str) -> tuple[list[SeedEntry], list[SeedProblem]]:
    entries, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        for token in line.replace(",", " ").split():
            where = f"line {number}"
            try:
                entries.append(SeedEntry(where, paper_id=parse_paper_id(token).paper_id))
            except InvalidInput:
                problems.append(SeedProblem(where, f"{token[:80]!r} is not an arXiv id"))
    return entries, problems


def _bibtex(text: str) -> tuple[list[SeedEntry], list[SeedProblem]]:
    entries, problems = [], []
    for match in _ENTRY_START.finditer(text):
        kind = match.group(1).lower()
        if kind in ("string", "preamble", "comment"):
            continue
        where = f"line {text.count(chr(10), 0, match.start()) + 1}"
        body = _balanced_body(text, match.end())
        if body is None:
            problems.append(SeedProblem(where, "the entry's braces never close"))
            continue
        fields = _fields(body)
        entry = _entry(where, fields)
        if entry is None:
            problems.append(SeedProblem(where, "no eprint, arXiv url, doi or title"))
        else:
            entries.append(entry)
    return entries, problems


def _entry(where: str, fields: dict[str, str]) -> SeedEntry | None:
    paper_id = None
    for name in ("eprint", "arxivid", "arxiv"):
        if name in fields:
            paper_id = _arxiv_id(fields[name])
            if paper_id:
                break
    if paper_id is None and "url" in fields:
        found = _ARXIV_URL.search(fields["url"])
        paper_id = _arxiv_id(found.group(1)) if found else None
    doi_match = _DOI.match(fields.get("doi", "").strip())
    doi = doi_match.group(1) if doi_match else None
    title = _SPACE.sub(" ", _LATEX_BRACES.sub("", fields.get("title", ""))).strip() or None
    if paper_id is None and doi is None and title is None:
        return None
    return SeedEntry(where, paper_id=paper_id, doi=doi, title=title)


def _arxiv_id(value: str) -> str | None:
    try:
        return parse_paper_id(value.strip()).paper_id
    except InvalidInput:
        return None


def _balanced_body(text: str, start: int) -> str | None:
    """The entry's text up to the brace (or parenthesis) closing the one before `start`."""
    opening = text[start - 1]
    closing = "}" if opening == "{" else ")"
    depth = 1
    for position in range(start, len(text)):
        char = text[position]
        if char == "{" or (opening == "(" and char == "("):
            depth += 1
        elif char == closing or (closing == ")" and char == "}"):
            depth -= 1
            if depth == 0:
                return text[start:position]
    return None


def _fields(body: str) -> dict[str, str]:
    """`name = {value}`, `"value"` or a bare word, after the entry's key; names lower-cased."""
    fields: dict[str, str] = {}
    position = body.find(",") + 1 if "," in body else len(body)
    while position < len(body):
        match = _FIELD.match(body, position)
        if match is None:
            next_comma = body.find(",", position)
            if next_comma < 0:
                break
            position = next_comma + 1
            continue
        value, position = _value(body, match.end())
        fields.setdefault(match.group(1).lower(), value)
        next_comma = body.find(",", position)
        position = len(body) if next_comma < 0 else next_comma + 1
    return fields


def _value(body: str, start: int) -> tuple[str, int]:
    if start < len(body) and body[start] == "{":
        depth = 0
        for position in range(start, len(body)):
            if body[position] == "{":
                depth += 1
            elif body[position] == "}":
                depth -= 1
                if depth == 0:
                    return body[start + 1:position], position + 1
        return body[start + 1:], len(body)
    if start < len(body) and body[start] == '"':
        end = body.find('"', start + 1)
        end = len(body) if end < 0 else end
        return body[start + 1:end], end + 1
    end = body.find(",", start)
    end = len(body) if end < 0 else end
    return body[start:end].strip(), end
