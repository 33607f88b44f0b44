"""`papercast ingest` never loses good records for bad ones and never lies in its report, on SQLite
and PostgreSQL: broken fields, a truncated gzip (with and without read-ahead), any batch size."""

from __future__ import annotations

import gzip
import json
import random
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from papercast.bootstrap import Papercast, build
from papercast.cli.main import app
from papercast.domain.ingest import IngestReport
from papercast.services.ingest import IngestService
from papercast.settings import Settings
from papercast.sources.detect import open_source

runner = CliRunner()


def ingest_json(env: dict[str, str], *args: str) -> tuple[int, dict[str, object], str]:
    result = runner.invoke(app, ["ingest", "--json", *args], env=env, catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout), result.stderr


def _open(database_url: str, data_dir: Path) -> Papercast:
    return build(Settings.load(env={}, data_dir=data_dir, database_url=database_url))


def _snapshot_line(paper_id: str, *, title: str = "A good paper",
                   created: str = "Mon, 1 Feb 2021 10:00:00 GMT",
                   version: str = "v1", **extra: object) -> str:
    return json.dumps({"id": paper_id, "title": title, "abstract": "Text.", "authors": "A. Author",
                       "versions": [{"version": version, "created": created}], **extra})


# One line of each kind that aborted the whole file before (UnicodeEncodeError, OverflowError,
# ValueError, PostgreSQL refusing NUL or a too-long id), each between good lines.
BAD_LINES = [
    '{"id": "2102.00001", "title": "lone \\ud800 surrogate", "versions": []}',
    _snapshot_line("2102.00002", created="Fri, 31 Dec 9999 23:00:00 -0500"),
    _snapshot_line("2102.00003", created="Fri, 31 Dec 12345678901234567890 23:00:00 GMT"),
    _snapshot_line("2102.00004", created="Mon, 1 Jan 0001 00:00:00 +0100"),
    _snapshot_line("2102.00005", version="v" + "7" * 5000),
    _snapshot_line("2102.00006", title="\x00\x07\x08\x7f"),
    _snapshot_line("a" * 16 + "-" + "b" * 64),
    _snapshot_line("２１０２.０００08"),
    _snapshot_line("2102.00009", title="Counted", abstract={"nested": "object"}),
]


def test_each_bad_record_is_a_located_rejection_and_its_batch_is_stored(
    settings_env: dict[str, str], tmp_path: Path
) -> None:
    lines = []
    for number, bad in enumerate(BAD_LINES):
        lines.append(_snapshot_line(f"2101.{number:05d}", title=f"Good paper\x00 {number}",
                                    comments="pages\x1b[31m 12"))
        lines.append(bad)
    path = tmp_path / "snapshot.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    env = {**settings_env, "PAPERCAST_INGEST_BATCH_SIZE": "1000"}  # every line in one batch

    code, report, _ = ingest_json(env, "--format", "snapshot", str(path))

    assert code == 1
    assert (report["new"], report["rejected"]) == (len(BAD_LINES), len(BAD_LINES))
    locations = [r["location"] for r in report["rejections"]]  # type: ignore[union-attr]
    assert locations == [f"snapshot.jsonl line {2 * n + 2}" for n in range(len(BAD_LINES))]
    papercast = _open(settings_env["PAPERCAST_DATABASE_URL"], tmp_path / "data")
    try:
        stored = papercast.papers.get("2101.00003")
        assert stored is not None
        assert (stored.title, stored.comments) == ("Good paper 3", "pages[31m 12")
        assert papercast.papers.count() == len(BAD_LINES)
    finally:
        papercast.close()


def _random_snapshot(count: int, seed: int = 1) -> bytes:
    """Snapshot lines of made-up words: text that compresses about as much as real abstracts."""
    rng = random.Random(seed)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 10))) for _ in range(3000)]
    return "".join(_snapshot_line(f"2101.{n:05d}", title=" ".join(rng.choices(words, k=8)),
                                  abstract=" ".join(rng.choices(words, k=150))) + "\n"
                   for n in range(count)).encode()


@pytest.mark.parametrize("read_ahead_mb", ["0", "1"], ids=["serial", "read-ahead"])
def test_a_truncated_gzip_stores_and_reports_what_was_readable(
    settings_env: dict[str, str], tmp_path: Path, read_ahead_mb: str
) -> None:
    whole = gzip.compress(_random_snapshot(5000))
    truncated = whole[: len(whole) * 2 // 3]
    assert len(truncated) > 2**20  # big enough to be read ahead with a 1 MiB threshold
    readable = zlib.decompressobj(31).decompress(truncated).count(b"\n")  # complete lines before the cut
    path = tmp_path / "snapshot.jsonl.gz"
    path.write_bytes(truncated)
    env = {**settings_env, "PAPERCAST_INGEST_BATCH_SIZE": "1000",
           "PAPERCAST_INGEST_READ_AHEAD_MB": read_ahead_mb}

    code, report, _ = ingest_json(env, "--format", "snapshot", str(path))

    assert code == 1
    (error,) = report["errors"]  # type: ignore[misc]
    assert str(path) in error["error"] and "truncated" in error["error"]
    assert 0 < report["new"] == readable  # the last, partial batch too
    papercast = _open(settings_env["PAPERCAST_DATABASE_URL"], tmp_path / "data")
    try:
        assert papercast.papers.count() == report["new"]  # the report counts what was committed
    finally:
        papercast.close()


def _file_with_repeats(shared_data: Path, target: Path, seed: int) -> Path:
    """Part of the real sample, with papers repeated: unchanged, updated to a newer version, and an
    older version arriving late, in a shuffled order."""
    rng = random.Random(seed)
    lines = (shared_data / "arxiv-abs-sample.jsonl").read_text().splitlines()[:120]
    records = [json.loads(line) for line in lines]
    extra = []
    for record in rng.sample(records, 60):
        newer = dict(record, title=record["title"] + " (revised)", versions=[
            *record["versions"], {"version": f"v{len(record['versions']) + 1}",
                                  "created": "Mon, 1 Feb 2021 10:00:00 GMT"}])
        extra += [record, newer, record, newer]
    mixed = [*records, *extra]
    rng.shuffle(mixed)
    target.write_text("".join(json.dumps(r) + "\n" for r in mixed))
    return target


def _ingest(papercast: Papercast, path: Path, batch_size: int) -> IngestReport:
    return IngestService(papercast.units, batch_size=batch_size).ingest_source(open_source(path, "snapshot"))


def _catalog(papercast: Papercast) -> dict[str, object]:
    """Every stored paper, without its change sequence (fewer batches write fewer changes) and
    the time its row was written."""
    papers = papercast.papers.get_many(list(papercast.papers.iter_ids()))
    return {paper_id: {**vars(paper), "change_seq": None, "updated_at": None}
            for paper_id, paper in papers.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_and_catalog_do_not_depend_on_the_batch_size(
    database_url: str, tmp_path: Path, shared_data: Path, seed: int
) -> None:
    path = _file_with_repeats(shared_data, tmp_path / "repeats.jsonl", seed)
    results = {}
    for batch_size in (1, 2, 3, 97, 5000):
        url = database_url if batch_size == 97 else f"sqlite:///{tmp_path / f'batch-{batch_size}.db'}"
        papercast = _open(url, tmp_path / f"data-{batch_size}")
        try:
            report = _ingest(papercast, path, batch_size)
            results[batch_size] = (report.as_dict(), _catalog(papercast))
        finally:
            papercast.close()
    one_by_one = results[1]
    assert one_by_one[0]["updated"] and one_by_one[0]["unchanged"]  # the repeats did both
    for batch_size, result in results.items():
        assert result[0] == one_by_one[0], batch_size
        assert result[1] == one_by_one[1], batch_size
