"""Ingest with read-ahead (a second process parses and validates) stores what a serial ingest stores."""

from __future__ import annotations

import gzip
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from papercast.bootstrap import Papercast, build
from papercast.domain.errors import SourceError
from papercast.domain.ingest import IngestReport, SourceItem
from papercast.domain.papers import Paper
from papercast.services.ingest import IngestService
from papercast.settings import Settings
from papercast.sources.detect import open_source
from papercast.sources.read_ahead import ProcessReadAhead
from papercast.sources.snapshot_jsonl import SnapshotJsonlSource

# Small batches: many of them, and versions of one paper in different batches.
BATCH = 97


def _app(database_url: str, data_dir: Path) -> Papercast:
    return build(Settings.load(env={}, data_dir=data_dir, database_url=database_url))


def _ingest(app: Papercast, path: Path, *, read_ahead: bool) -> IngestReport:
    read_ahead_process = ProcessReadAhead(1) if read_ahead else None
    service = IngestService(app.units, batch_size=BATCH, read_ahead=read_ahead_process)
    return service.ingest_source(open_source(path, "snapshot"))


def _catalog(app: Papercast) -> dict[str, Paper]:
    return app.papers.get_many(list(app.papers.iter_ids()))


def _messy_snapshot(shared_data: Path, target: Path) -> Path:
    """The real snapshot sample with a malformed line, a record without a title and a bad id among it."""
    lines = (shared_data / "arxiv-abs-sample.jsonl").read_bytes().splitlines(keepends=True)
    lines.insert(150, b'{"id": "2101.99999", "title": \n')
    lines.insert(400, b'{"id": "2102.99998", "title": "", "abstract": "x", "versions": []}\n')
    lines.insert(700, b'{"id": "not an id", "title": "T", "abstract": "x", "versions": []}\n')
    target.write_bytes(b"".join(lines))
    return target


def test_read_ahead_stores_what_a_serial_ingest_stores(database_url: str, tmp_path: Path, shared_data: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    path = _messy_snapshot(shared_data, tmp_path / "snapshot.jsonl")
    serial_app = _app(f"sqlite:///{tmp_path / 'serial.db'}", tmp_path / "serial")
    app = _app(database_url, tmp_path / "data")
    try:
        serial = _ingest(serial_app, path, read_ahead=False)
        with caplog.at_level(logging.INFO, logger="papercast.ingest"):
            report = _ingest(app, path, read_ahead=True)
        assert any("ingest.read_ahead " in r.getMessage() for r in caplog.records), "no read-ahead process"
        assert report.as_dict() == serial.as_dict()
        assert (report.new, report.rejected) == (1130, 3)
        # Rejections found when validating name the line too, and the record's id.
        assert [r.location for r in report.rejections] == ["line 151", "line 401", "line 701"]
        assert report.rejections[1].reason == "2102.99998: title: missing title"
        assert report.rejections[2].reason.startswith("not an id: ")
        stored = _catalog(app)
        assert stored == _catalog(serial_app)  # change sequences included: the same order of writes
        assert [v.number for v in stored["1810.04805"].versions] == [1, 2]
        assert [v.number for v in stored["hep-th/9901001"].versions] == [1, 2, 3]
        again = _ingest(app, path, read_ahead=True)
        assert (again.new, again.updated, again.unchanged, again.rejected) == (0, 0, 1191, 3)  # 1,191 lines
        assert _catalog(app) == stored
    finally:
        app.close()
        serial_app.close()


def test_a_damaged_file_fails_as_it_does_serially_after_storing_the_same(database_url: str, tmp_path: Path,
                                                                          shared_data: Path) -> None:
    whole = gzip.compress((shared_data / "arxiv-abs-sample.jsonl").read_bytes())
    path = tmp_path / "snapshot.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])  # the gzip stream ends two thirds in
    serial_app = _app(f"sqlite:///{tmp_path / 'serial.db'}", tmp_path / "serial")
    app = _app(database_url, tmp_path / "data")
    try:
        with pytest.raises(SourceError) as serial_error:
            _ingest(serial_app, path, read_ahead=False)
        with pytest.raises(SourceError) as error:
            _ingest(app, path, read_ahead=True)
        assert str(error.value) == str(serial_error.value)
        assert error.value.code == serial_error.value.code
        assert str(path) in str(error.value)
        assert 0 < app.papers.count() == serial_app.papers.count()
    finally:
        app.close()
        serial_app.close()


class DyingSource(SnapshotJsonlSource):
    """Yields a few records, then its process exits without a word (as if killed)."""

    def items(self) -> Iterator[SourceItem]:
        for number, item in enumerate(super().items()):
            if number == 2 * BATCH:
                os._exit(7)
            yield item


def test_a_read_ahead_process_that_dies_is_a_source_error(tmp_path: Path, shared_data: Path) -> None:
    app = _app(f"sqlite:///{tmp_path / 'papercast.db'}", tmp_path / "data")
    try:
        service = IngestService(app.units, batch_size=BATCH, read_ahead=ProcessReadAhead(1))
        with pytest.raises(SourceError, match="read-ahead process exited with status 7"):
            service.ingest_source(DyingSource(shared_data / "arxiv-abs-sample.jsonl"))
        assert app.papers.count() == 2 * BATCH  # the batches it handed over were stored
    finally:
        app.close()
