"""Classic IR test collections (Cranfield, CISI) as paper records and judged queries.

Both use the SMART tagged format (`.I 12`, `.T`, `.A`, `.W` ... lines). Documents become
`cran-<n>` / `cisi-<n>` papers; queries become `{"qid", "query", "relevant": {id: grade}}`,
the shape of `dev-queries.jsonl`, with higher grades meaning more relevant.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from papercast.domain.errors import InvalidInput
from papercast.domain.papers import Author, PaperRecord, author_from_name, author_from_parts, clean_text

COLLECTIONS = ("cranfield", "cisi")
_FIELD_LINE = re.compile(r"^\.([A-Z])(?:\s+(.*?))?\s*$")
# Cranfield grades 1 (a complete answer) .. 4 (minimal interest); -1 rows are not relevant.
_CRANFIELD_GAIN = {1: 4, 2: 3, 3: 2, 4: 1}


@dataclass(frozen=True)
class JudgedQuery:
    """One query and its relevance judgments (paper id to grade, higher is more relevant)."""

    qid: str
    query: str
    relevant: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {"qid": self.qid, "query": self.query, "relevant": self.relevant}


@dataclass(frozen=True)
class BenchmarkCollection:
    """A test collection: its papers and the queries that have at least one judgment."""

    name: str
    records: tuple[PaperRecord, ...]
    queries: tuple[JudgedQuery, ...]


def load_collection(name: str, folder: Path) -> BenchmarkCollection:
    """Load `cranfield` or `cisi` from the folder holding its original files."""
    folder = Path(folder)
    if name == "cranfield":
        return load_cranfield(folder)
    if name == "cisi":
        return load_cisi(folder)
    raise InvalidInput(f"unknown collection {name!r}; use one of {', '.join(COLLECTIONS)}",
                       field="collection")


def load_cranfield(folder: Path) -> BenchmarkCollection:
    """Cranfield: 1,400 aeronautics abstracts, 225 queries; qrels number queries by position."""
    source = "cranfield"
    records = tuple(
        _record(f"cran-{number}", fields, source, _cranfield_authors)
        for number, fields in read_tagged(_read(folder / "cran.all.1400"))
    )
    texts = [clean_text(fields.get("W", "")) for _, fields in read_tagged(_read(folder / "cran.qry"))]
    judgments: dict[int, dict[str, int]] = {}
    for line in _read(folder / "cranqrel").splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        position, doc, grade = int(parts[0]), parts[1], int(parts[2])
        if grade in _CRANFIELD_GAIN:
            judgments.setdefault(position, {})[f"cran-{doc}"] = _CRANFIELD_GAIN[grade]
    queries = tuple(
        JudgedQuery(f"cran-q{position:03d}", texts[position - 1], judgments[position])
        for position in sorted(judgments) if 1 <= position <= len(texts)
    )
    return BenchmarkCollection("cranfield", records, queries)


def load_cisi(folder: Path) -> BenchmarkCollection:
    """CISI: 1,460 library-science abstracts, 112 queries of which 76 are judged (binary)."""
    source = "cisi"
    records = tuple(
        _record(f"cisi-{number}", fields, source, _cisi_authors)
        for number, fields in read_tagged(_read(folder / "CISI.ALL"))
    )
    queries_file = read_tagged(_read(folder / "CISI.QRY"))
    texts = {number: clean_text(fields.get("W", "")) for number, fields in queries_file}
    judgments: dict[int, dict[str, int]] = {}
    for line in _read(folder / "CISI.REL").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            judgments.setdefault(int(parts[0]), {})[f"cisi-{int(parts[1])}"] = 1
    queries = tuple(
        JudgedQuery(f"cisi-q{number:03d}", texts[number], judgments[number])
        for number in sorted(judgments) if texts.get(number)
    )
    return BenchmarkCollection("cisi", records, queries)


def read_tagged(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Records of a SMART tagged file: (the `.I` number, {field letter: text}).

    A field given twice (CISI lists one author per `.A`) is joined with newlines.
    """
    number: int | None = None
    fields: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        match = _FIELD_LINE.match(line)
        if match:
            letter, rest = match[1], match[2] or ""
            if letter == "I":
                if number is not None:
                    yield number, _joined(fields)
                number, fields, current = int(rest.split()[0]), {}, ""
                continue
            current = letter
            fields.setdefault(letter, []).append(rest)
            continue
        if number is not None and current:
            fields[current][-1] = f"{fields[current][-1]}\n{line}" if fields[current][-1] else line
    if number is not None:
        yield number, _joined(fields)


def _joined(fields: dict[str, list[str]]) -> dict[str, str]:
    return {letter: "\n".join(values) for letter, values in fields.items()}


def _record(paper_id: str, fields: dict[str, str], source: str, authors: Any) -> PaperRecord:
    title = clean_text(fields.get("T", "")) or "(untitled)"
    abstract = clean_text(fields.get("W", ""))
    # Cranfield repeats the title as the first sentence of the text; a paper's abstract does not.
    if abstract.lower().startswith(title.lower()) and len(abstract) > len(title):
        abstract = abstract[len(title):].strip()
    return PaperRecord(paper_id=paper_id, title=title, source=source, abstract=abstract,
                       authors=authors(fields.get("A", "")))


def _cranfield_authors(text: str) -> tuple[Author, ...]:
    """`brenckman,m.` or `van driest,e.r. and mccauley,w.d.`: family name, comma, initials."""
    names = [part.strip() for part in re.split(r"\s+and\s+|;", clean_text(text)) if part.strip()]
    return tuple(_family_first(name) for name in names)


def _cisi_authors(text: str) -> tuple[Author, ...]:
    """One `Comaromi, J.P.` per line."""
    return tuple(_family_first(line.strip()) for line in text.splitlines() if line.strip())


def _family_first(name: str) -> Author:
    if "," in name:
        last, first = name.split(",", 1)
        return author_from_parts(last, first)
    return author_from_name(name)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror or error}", field="path") from error
