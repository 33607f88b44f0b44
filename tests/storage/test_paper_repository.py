"""Contract tests for stored papers: the same assertions on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from papercast.bootstrap import build
from papercast.domain.errors import SchemaOutOfDate
from papercast.domain.papers import Author, ExternalSignal, PaperRecord, PaperVersion
from papercast.settings import Settings
from papercast.storage import migrations


@pytest.fixture
def papercast(database_url: str, tmp_path):  # type: ignore[no-untyped-def]
    app = build(Settings.load(env={}, data_dir=tmp_path, database_url=database_url))
    yield app
    app.close()


def _record(paper_id: str, version: int = 1, **fields: object) -> PaperRecord:
    base: dict[str, object] = {
        "paper_id": paper_id,
        "title": f"Paper {paper_id} v{version}",
        "source": "test",
        "abstract": "Attention is what you need, with $\\alpha$ and <b>tags</b>.",
        "authors": (Author("Ada Lovelace", "Lovelace", "Ada"), Author("Alan Turing", "Turing", "Alan")),
        "categories": ("cs.LG", "stat.ML"),
        "versions": tuple(PaperVersion(n, datetime(2021, n, 2, 3, 4, 5, tzinfo=UTC))
                          for n in range(1, version + 1)),
        "doi": "10.1000/xyz",
        "version": version,
    }
    base.update(fields)
    return PaperRecord(**base)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field(papercast) -> None:  # type: ignore[no-untyped-def]
    signal = ExternalSignal("hf-daily", upvotes=7, comments=2, github_stars=11, observed_on=date(2026, 6, 12))
    report = papercast.ingest.ingest([_record("2101.00001", 2, signal=signal)])
    assert report.new == 1
    paper = papercast.catalog.paper("arXiv:2101.00001v1")
    assert paper.title == "Paper 2101.00001 v2"
    assert [a.name for a in paper.authors] == ["Ada Lovelace", "Alan Turing"]
    assert paper.categories == ("cs.LG", "stat.ML")
    assert [(v.number, v.submitted_at) for v in paper.versions] == [
        (1, datetime(2021, 1, 2, 3, 4, 5, tzinfo=UTC)), (2, datetime(2021, 2, 2, 3, 4, 5, tzinfo=UTC))]
    assert paper.announced_on == date(2021, 1, 2)
    assert paper.signals == (signal,)
    assert paper.doi == "10.1000/xyz"
    assert paper.change_seq >= 1
    head = papercast.papers.get_many(["2101.00001"], history=False)["2101.00001"]
    assert head.versions == () and head.signals == ()
    assert (head.title, head.authors, head.categories, head.announced_on, head.latest_version) == (
        paper.title, paper.authors, paper.categories, paper.announced_on, paper.latest_version)


def test_reingest_changes_nothing_and_keeps_change_seq(papercast) -> None:  # type: ignore[no-untyped-def]
    records = [_record(f"2101.{n:05d}", 1 + n % 3) for n in range(50)]
    assert papercast.ingest.ingest(records).new == 50
    before = {p: papercast.papers.get(p) for p in (r.paper_id for r in records)}
    again = papercast.ingest.ingest(records)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 50)
    assert {p: papercast.papers.get(p) for p in before} == before


def test_versions_move_forward_only(papercast) -> None:  # type: ignore[no-untyped-def]
    papercast.ingest.ingest([_record("hep-th/9901001", 3)])
    report = papercast.ingest.ingest([_record("hep-th/9901001", 1, title="Stale")])
    assert report.unchanged == 1
    paper = papercast.catalog.paper("hep-th/9901001")
    assert paper.latest_version == 3
    assert paper.title == "Paper hep-th/9901001 v3"


def test_update_replaces_children_and_advances_change_seq(papercast) -> None:  # type: ignore[no-untyped-def]
    papercast.ingest.ingest([_record("2101.00002", 1), _record("2101.00003", 1)])
    first = papercast.catalog.paper("2101.00002")
    report = papercast.ingest.ingest([_record("2101.00002", 2, authors=(Author("Grace Hopper"),))])
    assert report.updated == 1
    second = papercast.catalog.paper("2101.00002")
    assert [a.name for a in second.authors] == ["Grace Hopper"]
    assert second.change_seq > papercast.catalog.paper("2101.00003").change_seq > first.change_seq - 1
    changed = papercast.papers.changed_since(first.change_seq, 10)
    assert [p.paper_id for p in changed] == ["2101.00003", "2101.00002"]


def test_rejected_records_leave_stored_papers_alone(papercast) -> None:  # type: ignore[no-untyped-def]
    papercast.ingest.ingest([_record("2101.00004", 1)])
    stored = papercast.catalog.paper("2101.00004")
    report = papercast.ingest.ingest([
        _record("2101.00004", 2, title=""), _record("2101.00005", 1), _record("bogus id", 1)])
    assert (report.new, report.rejected) == (1, 2)
    assert {r.reason.split(":")[0] for r in report.rejections} >= {"title"}
    assert papercast.catalog.paper("2101.00004") == stored


def test_concurrent_writers_get_distinct_increasing_sequences(papercast) -> None:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for batch in range(5):
                papercast.ingest.ingest([_record(f"2102.{offset + batch * 10 + n:05d}") for n in range(10)])
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(k * 1000,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with papercast.engine.connect() as connection:
        seqs = connection.execute(text("SELECT change_seq FROM papers ORDER BY change_seq")).scalars().all()
    assert len(seqs) == 150 == len(set(seqs))
    assert seqs == list(range(1, 151))


def test_out_of_date_schema_is_refused_with_what_to_run(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = build(Settings.load(env={}, data_dir=tmp_path, database_url=database_url))
    with app.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    with pytest.raises(SchemaOutOfDate, match="papercast db upgrade"):
        migrations.require_current(app.engine)
    app.close()


def test_models_and_migrations_agree(papercast) -> None:  # type: ignore[no-untyped-def]
    assert migrations.drift(papercast.engine) == []
