"""Listing reads (storage/listings.py through services/listings.py) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from sqlalchemy.exc import OperationalError
from web_corpus import FILLER_COUNT, HOSTILE_AUTHOR, HOSTILE_ID, LOCAL_ID, MATH_ID, OLD_STYLE_ID

from papercast.bootstrap import Papercast
from papercast.domain.errors import InvalidInput, NotFound
from papercast.domain.papers import Paper, PaperRecord
from papercast.services.listings import MAX_OFFSET, ListingService
from papercast.storage import listings as storage_listings
from papercast.storage.listings import SqlListingQueries
from papercast.web.search import CatalogSearch

TOTAL = FILLER_COUNT + 4


@pytest.fixture
def listings(papercast: Papercast) -> ListingService:
    return ListingService(SqlListingQueries(papercast.engine))


def test_recent_is_newest_first_with_undated_papers_last(listings: ListingService) -> None:
    page = listings.recent(None, 0, 100)
    ids = [p.paper_id for p in page.papers]
    assert page.total == TOTAL and len(ids) == TOTAL
    assert ids[-4:] == [MATH_ID, HOSTILE_ID, OLD_STYLE_ID, LOCAL_ID]
    dates = [p.announced_on for p in page.papers if p.announced_on]
    assert dates == sorted(dates, reverse=True)


def test_recent_pages_cover_everything_once(listings: ListingService) -> None:
    seen = []
    offset = 0
    while True:
        page = listings.recent(None, offset, 7)
        seen += [p.paper_id for p in page.papers]
        if not page.has_next:
            break
        offset += 7
    assert len(seen) == TOTAL == len(set(seen))
    assert listings.recent(None, 0, 7).has_previous is False and listings.recent(None, 7, 7).has_previous


def test_recent_since(listings: ListingService) -> None:
    page = listings.recent(date(2021, 1, 5), 0, 100)
    ids = {p.paper_id for p in page.papers}
    assert MATH_ID in ids and HOSTILE_ID not in ids and OLD_STYLE_ID not in ids
    assert LOCAL_ID in ids  # no date: counted by when it was stored (today)
    assert page.total == FILLER_COUNT + 2
    assert listings.recent(date(2999, 1, 1), 0, 10).total == 0


def test_by_author_matches_names_case_insensitively(listings: ListingService) -> None:
    found = listings.by_author("  ADA   lovelace ", 0, 10)
    assert found.name == "Ada Lovelace" and found.key == "ada lovelace"
    assert [p.paper_id for p in found.page.papers] == [MATH_ID, HOSTILE_ID] and found.page.total == 2
    assert listings.by_author(HOSTILE_AUTHOR, 0, 10).page.total == 1
    with pytest.raises(NotFound):
        listings.by_author("Nobody At All", 0, 10)
    with pytest.raises(InvalidInput):
        listings.by_author("   ", 0, 10)


def test_by_category_includes_cross_lists(listings: ListingService) -> None:
    assert [p.paper_id for p in listings.by_category("stat.ML", 0, 10).papers] == [MATH_ID]
    vision = listings.by_category("cs.CV", 5, 10)
    assert vision.total == FILLER_COUNT and len(vision.papers) == 10 and vision.offset == 5
    assert listings.by_category("math.GT", 0, 10).total == 0
    with pytest.raises(InvalidInput):
        listings.by_category("cs.LG; DROP TABLE papers", 0, 10)


def test_text_search_needs_every_word(listings: ListingService) -> None:
    assert listings.text_search("vision filler", 0, 100).total == FILLER_COUNT
    assert [p.paper_id for p in listings.text_search("SPARSE recovery", 0, 10).papers] == [MATH_ID]
    assert listings.text_search("vision zzznothing", 0, 10).total == 0
    assert listings.text_search("% _", 0, 10).total == 0  # LIKE wildcards are not words


def test_related_papers_share_the_primary_category(listings: ListingService, papercast: Papercast) -> None:
    related = listings.related(papercast.catalog.paper(MATH_ID), 5)
    assert [p.paper_id for p in related] == [HOSTILE_ID]


def test_papers_by_id_keep_the_order_asked(listings: ListingService) -> None:
    found = listings.papers([OLD_STYLE_ID, "2999.00001", MATH_ID])
    assert [p.paper_id for p in found] == [OLD_STYLE_ID, MATH_ID]


@pytest.mark.parametrize("offset, limit", [(-1, 10), (0, 0), (0, 101), (MAX_OFFSET + 1, 10)])
def test_windows_are_checked(listings: ListingService, offset: int, limit: int) -> None:
    with pytest.raises(InvalidInput):
        listings.recent(None, offset, limit)


def newest_first(found: list[Paper]) -> list[str]:
    """The listing order, computed in Python: dated papers newest first, then undated ones."""
    dated = sorted((p for p in found if p.announced_on), key=lambda p: (p.announced_on, p.change_seq),
                   reverse=True)
    undated = sorted((p for p in found if not p.announced_on), key=lambda p: p.change_seq, reverse=True)
    return [p.paper_id for p in dated + undated]


@pytest.mark.parametrize("category", ["cs.CV", "cs.LG", "stat.ML", "hep-th", "cs.AI"])
@pytest.mark.parametrize("limit", [1, 3, 10])
def test_category_pages_match_the_order_computed_in_python(listings: ListingService, category: str,
                                                           limit: int) -> None:
    everything = listings.recent(None, 0, 100).papers
    expected = newest_first([p for p in everything if category in p.categories])
    seen: list[str] = []
    for offset in range(0, len(expected) + limit, limit):  # both strategies: walk the dates, read the set
        seen += [p.paper_id for p in listings.by_category(category, offset, limit).papers]
    assert seen == expected


def test_related_papers_of_a_large_category_walk_the_dates(listings: ListingService,
                                                           papercast: Papercast) -> None:
    newest = f"2102.{FILLER_COUNT:05d}"
    related = listings.related(papercast.catalog.paper(newest), 5)
    expected = newest_first([p for p in listings.recent(None, 0, 100).papers
                             if p.primary_category == "cs.CV" and p.paper_id != newest])[:5]
    assert [p.paper_id for p in related] == expected


def test_catalog_search_reuses_a_category_list_for_a_while(listings: ListingService,
                                                           papercast: Papercast) -> None:
    moment = [0.0]
    search = CatalogSearch(listings, related_ttl=10, monotonic=lambda: moment[0])
    newest, second = (papercast.catalog.paper(f"2102.{n:05d}") for n in (FILLER_COUNT, FILLER_COUNT - 1))
    for_newest = [hit.paper_id for hit in search.similar_to(newest, 3).results]
    for_second = [hit.paper_id for hit in search.similar_to(second, 3).results]
    assert len(for_newest) == len(for_second) == 3
    assert newest.paper_id not in for_newest and second.paper_id not in for_second
    assert newest.paper_id in for_second
    papercast.ingest.ingest([PaperRecord(paper_id="2112.00001", title="Newer vision", source="test",
                                         categories=("cs.CV",), announced_on=date(2021, 12, 1))])
    assert "2112.00001" not in [hit.paper_id for hit in search.similar_to(second, 3).results]
    moment[0] += 11
    assert [hit.paper_id for hit in search.similar_to(second, 3).results][0] == "2112.00001"


def test_slow_statements_are_stopped(papercast: Papercast) -> None:
    slow = {"sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000) "
                      "SELECT count(*) FROM n",
            "postgresql": "SELECT pg_sleep(5)"}[papercast.engine.dialect.name]
    # Unstopped, either statement would complete without an error.
    with (papercast.engine.connect() as connection, pytest.raises(OperationalError),
          storage_listings._time_limit(connection, 0.2)):
        connection.exec_driver_sql(slow)
    with papercast.engine.connect() as connection:  # the pooled connection has no limit left
        assert connection.exec_driver_sql("SELECT 1").scalar_one() == 1


def test_text_search_that_takes_too_long_says_what_to_do(listings: ListingService,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    @contextmanager
    def expired(connection: object, seconds: float) -> Iterator[None]:
        raise OperationalError("SELECT …", {}, Exception("canceling statement due to statement timeout"))
        yield

    monkeypatch.setattr(storage_listings, "_time_limit", expired)
    with pytest.raises(InvalidInput, match="more specific words"):
        listings.text_search("vision", 0, 10)
