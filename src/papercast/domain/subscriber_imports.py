"""Reading a consented subscriber list from elsewhere: JSON lines or CSV with the columns `email`,
`name`, `topics`, `frequency`, `send_hour`, `time_zone` and `consented_at`. Each row becomes an
`ImportedSubscriber` or a `Rejection` naming its line and what is wrong: one bad row never costs
a good one.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from papercast.domain.errors import InvalidInput
from papercast.domain.subscriptions import (
    DEFAULT_SEND_HOUR,
    DEFAULT_TIME_ZONE,
    Frequency,
    Preferences,
    parse_preferences,
    subscriber_email,
    subscriber_name,
)

FORMATS = ("jsonl", "csv")
COLUMNS = ("email", "name", "topics", "frequency", "send_hour", "time_zone", "consented_at")
CSV_TOPIC_SEPARATOR = ";"
BOM = "\ufeff"
# A consent time this far ahead of the clock is a mistake, not a clock difference.
CLOCK_SKEW = timedelta(minutes=5)
MAX_LINE_CHARS = 64 * 1024
EARLIEST_CONSENT_YEAR = 1970  # an earlier year is a typo (0024 for 2024)


@dataclass(frozen=True)
class ImportedSubscriber:
    """A row that can be written: where it was, the address, and what they consented to when."""

    location: str
    email: str
    name: str
    preferences: Preferences
    consented_at: datetime


@dataclass(frozen=True)
class Rejection:
    location: str
    reason: str


@dataclass
class ImportReport:
    """What an import did: subscribers added and updated, and every row refused, by line."""

    added: int = 0
    updated: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    def record(self, outcome: str | Rejection) -> None:
        if isinstance(outcome, Rejection):
            self.rejections.append(outcome)
        elif outcome == "added":
            self.added += 1
        else:
            self.updated += 1


def format_of(name: str, first_text: str) -> str:
    """`csv` or `jsonl` by the file's extension, else by its first character (`{`: JSON lines)."""
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "jsonl" if first_text.lstrip(BOM + " \t\r\n").startswith("{") else "csv"


def read_rows(lines: Iterable[str], file_format: str,
              now: datetime) -> Iterator[ImportedSubscriber | Rejection]:
    """The file's rows in order (`lines` split at line ends only, as `io.StringIO(text, newline="")`
    does, so CSV quoting of line breaks works); an address seen on an earlier line is refused on
    the later one."""
    if file_format not in FORMATS:
        raise InvalidInput(f"{file_format!r} is not a subscriber list format: jsonl or csv", field="format")
    rows = _jsonl_rows(lines) if file_format == "jsonl" else _csv_rows(lines)
    first_line: dict[str, str] = {}
    for location, fields in rows:
        row = fields if isinstance(fields, Rejection) else _row(location, fields, now)
        if isinstance(row, ImportedSubscriber):
            if row.email in first_line:
                row = Rejection(location, f"{row.email} is on {first_line[row.email]} already")
            else:
                first_line[row.email] = location
        yield row


def _jsonl_rows(lines: Iterable[str]) -> Iterator[tuple[str, Mapping[str, object] | Rejection]]:
    for number, line in enumerate(lines, start=1):
        text = line.removeprefix(BOM) if number == 1 else line
        location = f"line {number}"
        if not text.strip():
            continue
        if len(text) > MAX_LINE_CHARS:
            yield location, Rejection(location, f"the line is longer than {MAX_LINE_CHARS} characters")
            continue
        try:
            value = json.loads(text)
        except ValueError as error:
            yield location, Rejection(location, f"not JSON: {error}")
            continue
        if not isinstance(value, dict):
            yield location, Rejection(location, "not a JSON object")
            continue
        yield location, value


def _csv_rows(lines: Iterable[str]) -> Iterator[tuple[str, Mapping[str, object] | Rejection]]:
    """CSV rows with their first line's number. The header row names the columns (any order);
    a column papercast does not know stops the file: its values would be lost silently."""
    stripped = _without_bom(iter(lines))
    reader = csv.reader(stripped, strict=True)
    try:
        header = [column.strip().lower() for column in next(reader)]
    except StopIteration:
        return
    except csv.Error as error:
        raise InvalidInput(f"line 1: the header row is not CSV: {error}", field="file") from error
    unknown = [column for column in header if column not in COLUMNS]
    if unknown or "email" not in header or len(set(header)) != len(header):
        raise InvalidInput(f"line 1: the header must name the columns {', '.join(COLUMNS)} (email at least, "
                           f"each once); found {', '.join(header) or 'nothing'}", field="file")
    while True:
        location = f"line {reader.line_num + 1}"  # a quoted value may go on over several lines
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield location, Rejection(location, f"not CSV: {error}")
            continue
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            yield location, Rejection(location, f"{len(values)} values for {len(header)} columns")
            continue
        yield location, _csv_fields(dict(zip(header, values, strict=True)))


def _without_bom(lines: Iterator[str]) -> Iterator[str]:
    first = next(lines, None)
    if first is None:
        return
    yield first.removeprefix(BOM)
    yield from lines


def _csv_fields(values: dict[str, str]) -> dict[str, object]:
    fields: dict[str, object] = {name: value for name, value in values.items() if value.strip()}
    if "topics" in fields:
        fields["topics"] = [topic for topic in values["topics"].split(CSV_TOPIC_SEPARATOR) if topic.strip()]
    return fields


def _row(location: str, fields: Mapping[str, object], now: datetime) -> ImportedSubscriber | Rejection:
    unknown = sorted(set(fields) - set(COLUMNS))
    if unknown:
        return Rejection(location, f"unknown keys {', '.join(map(repr, unknown))}; the keys are "
                                   f"{', '.join(COLUMNS)}")
    try:
        topics = fields.get("topics", [])
        if not isinstance(topics, list) or not all(isinstance(topic, str) for topic in topics):
            raise InvalidInput("must be a list of queries", field="topics")
        preferences = parse_preferences(
            topics=topics, frequency=_text(fields, "frequency", Frequency.DAILY.value),
            send_hour=fields.get("send_hour", DEFAULT_SEND_HOUR),
            time_zone=_text(fields, "time_zone", DEFAULT_TIME_ZONE))
        return ImportedSubscriber(location, subscriber_email(_text(fields, "email", "")),
                                  subscriber_name(_text(fields, "name", "")), preferences,
                                  parse_consent_time(fields.get("consented_at"), now))
    except InvalidInput as error:
        return Rejection(location, str(error))


def _text(fields: Mapping[str, object], name: str, default: str) -> str:
    value = fields.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidInput(f"must be text, not {type(value).__name__}", field=name)
    return value


def parse_consent_time(value: object, now: datetime) -> datetime:
    """When the subscriber consented: ISO 8601 (`2024-05-01T09:30:00Z`, `2024-05-01`); a time
    without an offset is UTC. Required, and not in the future."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("is needed: when the subscriber consented (ISO 8601)", field="consented_at")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as error:
        raise InvalidInput(f"{value[:40]!r} is not an ISO 8601 time", field="consented_at") from error
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment > now + CLOCK_SKEW:
        raise InvalidInput(f"{value!r} is in the future", field="consented_at")
    if moment.year < EARLIEST_CONSENT_YEAR:
        raise InvalidInput(f"{value!r} is before {EARLIEST_CONSENT_YEAR}: check the year",
                           field="consented_at")
    return moment

