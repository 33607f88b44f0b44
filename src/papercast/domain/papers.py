"""Papers as the catalog knows them: canonical ids, versions, authors, and the merge rule.

Pure data and rules; no I/O. Every source turns its format into `PaperRecord`s and the
ingest service merges them into stored `Paper`s with `merge`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import Enum

from papercast.domain.errors import InvalidInput

# New-style ids: YYMM.NNNN (0704-1412) or YYMM.NNNNN (1501 on), optional vN.
# ASCII only: `\d` would also take other scripts' digits ("２１０１.０００１").
_NEW_STYLE = re.compile(r"^(?P<id>\d{4}\.\d{4,5})(?:v(?P<version>\d{1,6}))?$", re.ASCII)
# Old-style ids: archive[.SUBJECT-CLASS]/YYMMNNN, optional vN. The subject class is not part of the id.
_OLD_STYLE = re.compile(
    r"^(?P<archive>[a-z]+(?:-[a-z]+)?)(?:\.[A-Za-z-]{2,8})?/(?P<number>\d{7})(?:v(?P<version>\d{1,6}))?$",
    re.ASCII,
)
# Ids of records that carry no arXiv id: a lowercase namespace, a dash, and a local part;
# at most 80 characters in all (MAX_ID_LENGTH, the width of the id columns).
_LOCAL = re.compile(r"^[a-z][a-z0-9]{0,15}-[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_PREFIXES = (
    "https://arxiv.org/abs/",
    "http://arxiv.org/abs/",
    "https://arxiv.org/pdf/",
    "http://arxiv.org/pdf/",
    "https://export.arxiv.org/abs/",
    "http://export.arxiv.org/abs/",
    "oai:arxiv.org:",
    "arxiv:",
    "abs/",
    "pdf/",
)

MAX_ID_LENGTH = 80
# Sane sizes: a field over these is a broken or hostile record, not a paper.
MAX_TITLE_LENGTH = 1_000
MAX_ABSTRACT_LENGTH = 20_000
MAX_AUTHORS = 5_000
MAX_AUTHOR_NAME_LENGTH = 300
MAX_SHORT_FIELD_LENGTH = 2_000
MAX_CATEGORIES = 30
MAX_VERSIONS = 200
# Counts (upvotes, comments, stars) are stored in 32-bit integer columns.
MAX_COUNT = 2**31 - 1
# Dates far outside these years are broken records. The bounds also keep every date inside what
# Python, SQLite and PostgreSQL can hold after any time-zone shift (year 9999 + 1 hour is not).
EARLIEST_YEAR = 1000
LATEST_YEAR = 2999
_CATEGORY = re.compile(r"^[A-Za-z-]+(?:\.[A-Za-z-]+)?$")


@dataclass(frozen=True)
class ParsedId:
    """A canonical paper id and, when the raw id named one, the version it pointed at."""

    paper_id: str
    version: int | None
    is_arxiv: bool


def parse_paper_id(raw: str) -> ParsedId:
    """Canonicalise an arXiv id (any common spelling) or a namespaced local id.

    `arXiv:2101.00001v2`, `https://arxiv.org/abs/2101.00001` and `2101.00001` share one id;
    old-style ids keep their archive (`hep-th/9901001` differs from `solv-int/9901001`).
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidInput("empty paper id", field="id")
    if len(text) > MAX_ID_LENGTH + 40:
        raise InvalidInput(f"paper id is {len(text)} characters long", field="id")
    lowered = text.lower()
    for prefix in _PREFIXES:
        if lowered.startswith(prefix):
            text = text[len(prefix) :]
            lowered = lowered[len(prefix) :]
            break
    if lowered.endswith(".pdf"):
        text = text[:-4]
    match = _NEW_STYLE.match(text)
    if match:
        yymm = int(match["id"][2:4])
        if not 1 <= yymm <= 12:
            raise InvalidInput(f"invalid arXiv id {raw!r}: month {yymm:02d}", field="id")
        version = int(match["version"]) if match["version"] else None
        return ParsedId(match["id"], _checked_version(version, raw), True)
    match = _OLD_STYLE.match(text if "/" not in text else _lower_archive(text))
    if match:
        version = int(match["version"]) if match["version"] else None
        return ParsedId(f"{match['archive']}/{match['number']}", _checked_version(version, raw), True)
    if _LOCAL.match(text) and "/" not in text:
        return ParsedId(text, None, False)
    raise InvalidInput(f"invalid paper id {raw!r}", field="id")


def _lower_archive(text: str) -> str:
    archive, _, rest = text.partition("/")
    head, dot, subject = archive.partition(".")
    return f"{head.lower()}{dot}{subject}/{rest}"


def _checked_version(version: int | None, raw: str) -> int | None:
    if version is not None and not 1 <= version <= MAX_VERSIONS:
        raise InvalidInput(f"invalid version in paper id {raw!r}", field="id")
    return version


def canonical_id(raw: str) -> str:
    """The canonical id of `raw`, without any version suffix."""
    return parse_paper_id(raw).paper_id


@dataclass(frozen=True)
class Author:
    """One author, in order of appearance; `name` is the display form."""

    name: str
    last: str = ""
    first: str = ""
    suffix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "last": self.last, "first": self.first, "suffix": self.suffix}


@dataclass(frozen=True)
class PaperVersion:
    """One arXiv version: its number and when it was submitted (when known)."""

    number: int
    submitted_at: datetime | None = None


@dataclass(frozen=True)
class ExternalSignal:
    """Popularity seen on another service, e.g. Hugging Face daily-papers upvotes."""

    source: str
    upvotes: int = 0
    comments: int = 0
    github_stars: int | None = None
    observed_on: date | None = None


@dataclass(frozen=True)
class PaperRecord:
    """What one source says about one paper. Empty fields mean "this source does not say".

    `versions` is the version history the source knows; `version` is the version this
    record describes, set only by sources that know it (snapshot, arXivRaw, the API).
    """

    paper_id: str
    title: str
    source: str
    abstract: str = ""
    authors: tuple[Author, ...] = ()
    categories: tuple[str, ...] = ()
    comments: str = ""
    journal_ref: str = ""
    doi: str = ""
    report_no: str = ""
    license: str = ""
    withdrawn: bool = False
    versions: tuple[PaperVersion, ...] = ()
    version: int | None = None
    announced_on: date | None = None
    signal: ExternalSignal | None = None
    # Where the record was read (`line 12`, `entry 3 (...)`), for rejections found after parsing.
    location: str = ""

    @property
    def described_version(self) -> int | None:
        """The version this record describes, only when the source says so explicitly.

        A partial history (the `arXiv` OAI format knows only v1's date) does not make a
        record authoritative for the newest version.
        """
        return self.version


@dataclass(frozen=True)
class Paper:
    """A paper as stored: the merged view over every record and source."""

    paper_id: str
    title: str
    abstract: str = ""
    authors: tuple[Author, ...] = ()
    categories: tuple[str, ...] = ()
    comments: str = ""
    journal_ref: str = ""
    doi: str = ""
    report_no: str = ""
    license: str = ""
    withdrawn: bool = False
    versions: tuple[PaperVersion, ...] = ()
    latest_version: int | None = None
    announced_on: date | None = None
    sources: tuple[str, ...] = ()
    signals: tuple[ExternalSignal, ...] = ()
    content_hash: str = ""
    change_seq: int = 0
    # When the stored row last changed (set by storage; None for a paper not read from it):
    # bookkeeping, not part of what the paper says, so comparisons leave it out.
    updated_at: datetime | None = field(default=None, compare=False)

    @property
    def primary_category(self) -> str:
        return self.categories[0] if self.categories else ""

    @property
    def is_arxiv(self) -> bool:
        return parse_paper_id(self.paper_id).is_arxiv


class Outcome(Enum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


# C0 and C1 control characters and DEL: those Python counts as whitespace (tab, newline, the
# separators 0x1c-0x1f, ...) become a space, the rest (NUL, BEL, backspace, escape, ...) is removed.
# No reader wants them; PostgreSQL refuses NUL.
_CONTROL_CHARACTERS = {code: " " if chr(code).isspace() else None
                       for code in (*range(0x00, 0x20), *range(0x7F, 0xA0))}
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: str | None, *, field: str | None = None) -> str:
    """Collapse runs of whitespace (arXiv wraps titles and abstracts at 80 columns) and drop
    control characters.

    Raises `InvalidInput` (naming `field`) for text with a lone UTF-16 surrogate: it is not
    Unicode text, cannot be written as UTF-8, and would fail the whole batch in the database.
    """
    if not value:
        return ""
    # Every whitespace character but the ASCII space is unprintable, so text that is printable,
    # has no double space and no space at either end is already clean: skip the split (most
    # records, about a third of the cost of cleaning an abstract). Controls and surrogates are
    # unprintable too, so they always take the slow path.
    if value.isprintable() and "  " not in value and value[0] != " " and value[-1] != " ":
        return value
    surrogate = _SURROGATE.search(value)
    if surrogate is not None:
        raise InvalidInput(f"text holds a lone UTF-16 surrogate {surrogate[0]!r} at character "
                           f"{surrogate.start() + 1} (not valid Unicode)", field=field)
    return " ".join(value.translate(_CONTROL_CHARACTERS).split())


def validate_record(record: PaperRecord) -> PaperRecord:
    """Check one incoming record and return it with canonical id and cleaned text.

    Raises `InvalidInput` naming the field that is missing, malformed, over a sane size or out
    of range. What passes can be stored by either database: valid Unicode without control
    characters, dates and numbers within the columns' ranges.
    """
    parsed = parse_paper_id(record.paper_id)
    title = clean_text(record.title, field="title")
    if not title:  # also a title of nothing but control characters or spaces
        raise InvalidInput("missing title", field="title")
    _check_length("title", title, MAX_TITLE_LENGTH)
    abstract = clean_text(record.abstract, field="abstract")
    _check_length("abstract", abstract, MAX_ABSTRACT_LENGTH)
    authors = _valid_authors(record.authors)
    if len(record.categories) > MAX_CATEGORIES:
        raise InvalidInput(f"{len(record.categories)} categories", field="categories")
    for category in record.categories:
        if not _CATEGORY.match(category) or len(category) > 40:
            raise InvalidInput(f"invalid category {category[:60]!r}", field="categories")
    short_fields = (
        clean_text(record.comments, field="comments"), clean_text(record.journal_ref, field="journal_ref"),
        clean_text(record.doi, field="doi"), clean_text(record.report_no, field="report_no"),
        clean_text(record.license, field="license"),
    )
    if max(map(len, short_fields)) > MAX_SHORT_FIELD_LENGTH:
        for name, value in zip(_SHORT_FIELDS, short_fields, strict=True):
            _check_length(name, value, MAX_SHORT_FIELD_LENGTH)
    comments, journal_ref, doi, report_no, license_ = short_fields
    versions = _valid_versions(record.versions)
    if record.version is not None:
        _check_version_number(record.version, "version")
    if record.announced_on is not None:
        _check_year(record.announced_on.year, "announced_on")
    if record.signal is not None:
        _check_signal(record.signal)
    # Built directly rather than with dataclasses.replace: this runs once per ingested record.
    return PaperRecord(
        paper_id=parsed.paper_id,
        title=title,
        source=record.source,
        abstract=abstract,
        authors=authors,
        categories=tuple(dict.fromkeys(record.categories)),
        comments=comments,
        journal_ref=journal_ref,
        doi=doi,
        report_no=report_no,
        license=license_,
        withdrawn=record.withdrawn,
        versions=versions,
        version=record.version if record.version is not None else parsed.version,
        announced_on=record.announced_on,
        signal=record.signal,
        location=record.location,
    )


_SHORT_FIELDS = ("comments", "journal_ref", "doi", "report_no", "license")


def _valid_authors(authors: tuple[Author, ...]) -> tuple[Author, ...]:
    """The authors with clean names (the sources' helpers nearly always made them so already)."""
    if len(authors) > MAX_AUTHORS:
        raise InvalidInput(f"{len(authors)} authors (at most {MAX_AUTHORS})", field="authors")
    # One printable-check per author: controls, surrogates and odd spaces are all unprintable.
    if not all([f"{a.name}{a.last}{a.first}{a.suffix}".isprintable() for a in authors]):
        parts = ([clean_text(part, field="authors") for part in (a.name, a.last, a.first, a.suffix)]
                 for a in authors)
        authors = tuple([Author(*names) for names in parts if names[0]])
    for author in authors:
        _check_length("authors", author.name, MAX_AUTHOR_NAME_LENGTH)
    return authors


def _valid_versions(versions: tuple[PaperVersion, ...]) -> tuple[PaperVersion, ...]:
    """The versions with their times in UTC (a time without a zone is taken to be UTC already)."""
    if len(versions) > MAX_VERSIONS:
        raise InvalidInput(f"{len(versions)} versions", field="versions")
    valid = []
    for version in versions:
        _check_version_number(version.number, "versions")
        moment = version.submitted_at
        if moment is not None:
            _check_year(moment.year, "versions")  # as written: a year in range cannot overflow when shifted
            if moment.tzinfo is not UTC:
                moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
                version = PaperVersion(version.number, moment)
        valid.append(version)
    return tuple(valid)


def _check_version_number(number: int, field: str) -> None:
    if not 1 <= number <= MAX_VERSIONS:
        shown = str(number) if abs(number) < 10**9 else "too large"  # str() of a huge int raises
        raise InvalidInput(f"invalid version number {shown} (1 to {MAX_VERSIONS})", field=field)


def _check_year(year: int, field: str) -> None:
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise InvalidInput(f"date in year {year} (expected {EARLIEST_YEAR} to {LATEST_YEAR})", field=field)


def _check_signal(signal: ExternalSignal) -> None:
    for name, count in (("upvotes", signal.upvotes), ("comments", signal.comments),
                        ("github_stars", signal.github_stars)):
        if count is not None and not 0 <= count <= MAX_COUNT:
            raise InvalidInput(f"count out of range (0 to {MAX_COUNT})", field=name)
    if signal.observed_on is not None:
        _check_year(signal.observed_on.year, "observed_on")


def _check_length(name: str, value: str, limit: int) -> None:
    if value and len(value) > limit:
        raise InvalidInput(f"{name} is {len(value)} characters (at most {limit})", field=name)


def paper_from_record(record: PaperRecord) -> Paper:
    """The stored paper that a first record about it creates."""
    versions = _merge_versions((), record.versions)
    latest = record.described_version
    if latest is not None and not any(v.number == latest for v in versions):
        versions = _merge_versions(versions, (PaperVersion(latest),))
    paper = Paper(
        paper_id=record.paper_id,
        title=record.title,
        abstract=record.abstract,
        authors=record.authors,
        categories=record.categories,
        comments=record.comments,
        journal_ref=record.journal_ref,
        doi=record.doi,
        report_no=record.report_no,
        license=record.license,
        withdrawn=record.withdrawn,
        versions=versions,
        latest_version=max((v.number for v in versions), default=None),
        announced_on=record.announced_on or _first_version_date(versions),
        sources=(record.source,),
        signals=(record.signal,) if record.signal else (),
    )
    # Not yet shared with anyone: setting the hash in place saves a copy per ingested paper.
    object.__setattr__(paper, "content_hash", content_hash(paper))
    return paper


_METADATA_FIELDS = ("title", "abstract", "authors", "categories", "comments", "journal_ref", "doi",
                    "report_no", "license")


def merge(existing: Paper, record: PaperRecord) -> tuple[Outcome, Paper]:
    """Merge one validated record into the stored paper.

    Versions only move forward: a record describing an older version than the stored latest
    changes nothing. A record of the same or a newer version updates the metadata it carries
    (empty fields keep the stored value). A record that names no version (RSS, Hugging Face)
    only fills fields an arXiv paper lacks and refreshes its external signal. Withdrawal is a flag.
    """
    incoming_version = record.described_version
    stored_latest = existing.latest_version
    if incoming_version is not None and stored_latest is not None and incoming_version < stored_latest:
        return Outcome.UNCHANGED, existing
    # Only a record that names its version may overwrite an arXiv paper's metadata; records
    # without one (RSS, Hugging Face, OAI `arXiv`/`oai_dc`) fill gaps, so two such sources
    # never flip a paper back and forth. Local ids have no versions: their record is the truth.
    authoritative = incoming_version is not None or not existing.is_arxiv
    changes: dict[str, object] = {}
    for name in _METADATA_FIELDS:
        new_value = getattr(record, name)
        old_value = getattr(existing, name)
        if not new_value or new_value == old_value:
            continue
        if authoritative or not old_value:
            changes[name] = new_value
    versions = _merge_versions(existing.versions, record.versions, prefer_incoming=authoritative)
    if incoming_version is not None and not any(v.number == incoming_version for v in versions):
        versions = _merge_versions(versions, (PaperVersion(incoming_version),))
    if versions != existing.versions:
        changes["versions"] = versions
        changes["latest_version"] = max(v.number for v in versions)
    if authoritative and record.withdrawn != existing.withdrawn and (
        record.withdrawn or (incoming_version is not None and incoming_version > (stored_latest or 0))
    ):
        changes["withdrawn"] = record.withdrawn
    announced = existing.announced_on
    candidates = [d for d in (announced, record.announced_on, _first_version_date(versions)) if d]
    if candidates and min(candidates) != announced:
        changes["announced_on"] = min(candidates)
    if record.source not in existing.sources:
        changes["sources"] = (*existing.sources, record.source)
    if record.signal is not None:
        signals = _merge_signal(existing.signals, record.signal)
        if signals != existing.signals:
            changes["signals"] = signals
    if not changes:
        return Outcome.UNCHANGED, existing
    merged = replace(existing, **changes)  # type: ignore[arg-type]
    merged = replace(merged, content_hash=content_hash(merged))
    return Outcome.UPDATED, merged


def _merge_versions(
    known: tuple[PaperVersion, ...], incoming: tuple[PaperVersion, ...], prefer_incoming: bool = False
) -> tuple[PaperVersion, ...]:
    """Union of two histories. A dated version fills an undated one; an authoritative record's
    dates replace others (the `arXiv` OAI format knows v1's day only, the snapshot its time)."""
    by_number = {v.number: v for v in known}
    for version in incoming:
        current = by_number.get(version.number)
        if current is None or (version.submitted_at is not None and (
                current.submitted_at is None or prefer_incoming)):
            by_number[version.number] = version
    return tuple(by_number[n] for n in sorted(by_number))


def _merge_signal(
    signals: tuple[ExternalSignal, ...], signal: ExternalSignal
) -> tuple[ExternalSignal, ...]:
    others = tuple(s for s in signals if s.source != signal.source)
    current = next((s for s in signals if s.source == signal.source), None)
    if current is not None and current.observed_on and signal.observed_on and (
        signal.observed_on < current.observed_on
    ):
        return signals
    return tuple(sorted((*others, signal), key=lambda s: s.source))


def _first_version_date(versions: tuple[PaperVersion, ...]) -> date | None:
    for version in versions:
        if version.number == 1 and version.submitted_at is not None:
            return version.submitted_at.date()
    return None


def content_hash(paper: Paper) -> str:
    """A hash of everything that describes the paper, to tell a real change from a re-run.

    Fields are joined with ASCII separator characters, which clean text never contains;
    this runs once per ingested paper, so it avoids JSON and `repr`.
    """
    # List comprehensions, not generators: join makes a list anyway, and this is per paper.
    authors = "\x1e".join([f"{a.name}\x1f{a.last}\x1f{a.first}\x1f{a.suffix}" for a in paper.authors])
    versions = "\x1e".join([
        f"{v.number}\x1f" if v.submitted_at is None else f"{v.number}\x1f{int(v.submitted_at.timestamp())}"
        for v in paper.versions
    ])
    signals = "\x1e".join([
        f"{s.source}\x1f{s.upvotes}\x1f{s.comments}\x1f{s.github_stars}\x1f{s.observed_on}"
        for s in paper.signals
    ])
    text = "\x1d".join((
        paper.title, paper.abstract, authors, "\x1f".join(paper.categories), paper.comments,
        paper.journal_ref, paper.doi, paper.report_no, paper.license, "1" if paper.withdrawn else "0",
        versions, str(paper.announced_on), "\x1f".join(paper.sources), signals,
    ))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_AUTHOR_SPLIT = re.compile(r",\s*(?:and\s+)?|\s+and\s+|;\s*")
_PARENS = re.compile(r"\s*\([^()]*\)")
_SUFFIXES = {"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"}


def parse_author_list(text: str) -> tuple[Author, ...]:
    """Split an arXiv author string ("A. Smith, B. Jones and C. Wu (MIT)") into ordered names."""
    cleaned = clean_text(_strip_parenthesised(text or ""))
    if not cleaned:
        return ()
    names = [n.strip() for n in _AUTHOR_SPLIT.split(cleaned) if n.strip()]
    authors: list[Author] = []
    for name in names:
        if name.lower() in _SUFFIXES and authors:
            previous = authors[-1]
            authors[-1] = replace(previous, name=f"{previous.name}, {name}", suffix=name)
            continue
        authors.append(author_from_name(name))
    return tuple(authors)


def _strip_parenthesised(text: str) -> str:
    previous = None
    while previous != text:
        previous, text = text, _PARENS.sub("", text)
    return text


def author_from_name(name: str) -> Author:
    """An `Author` from a display name, splitting the last word off as the family name."""
    display = clean_text(name)
    parts = display.split(" ")
    if len(parts) == 1:
        return Author(name=display, last=display)
    return Author(name=display, last=parts[-1], first=" ".join(parts[:-1]))


def author_from_parts(last: str, first: str = "", suffix: str = "") -> Author:
    """An `Author` from family and given names, as the snapshot's `authors_parsed` has them."""
    last, first, suffix = clean_text(last), clean_text(first), clean_text(suffix)
    display = " ".join(p for p in (first, last) if p)
    if suffix:
        display = f"{display}, {suffix}"
    return Author(name=display, last=last, first=first, suffix=suffix)


def author_key(name: str) -> str:
    """The form an author name is looked up by: lowercase, single spaces."""
    return clean_text(name).lower()
