"""The web app over a damaged search index: it starts, /search answers 200 from what still works,
and the background worker rebuilds the index from the database while it serves."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from web_corpus import make_papercast

from papercast.bootstrap import Papercast
from papercast.cli.serve import web_app
from support.index_damage import KEYWORD_DAMAGE, keyword_directory

QUERY = "/api/v1/search?q=convolutional vision&limit=5"


def _indexed(database_url: str, tmp_path: Path) -> Papercast:
    papercast = make_papercast(database_url, tmp_path, embedding_model="hashing")
    papercast.embedding_service().catch_up()
    papercast.index_follower().catch_up()
    return papercast


def _wait_until(condition: object, client: TestClient, seen: list[int]) -> None:
    """Poll /search until `condition()` holds (up to a minute on a busy machine), keeping every status;
    each request differs, so none is answered from the response cache."""
    for attempt in range(600):
        limit, offset = 1 + attempt % 50, attempt // 50
        response = client.get(f"/api/v1/search?q=convolutional vision&limit={limit}&offset={offset}")
        seen.append(response.status_code)
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("the index was not repaired within a minute")


def test_the_app_starts_on_a_damaged_index_answers_by_meaning_and_recovers(
        database_url: str, tmp_path: Path) -> None:
    _indexed(database_url, tmp_path).close()
    KEYWORD_DAMAGE["segment-zeroed"](tmp_path / "index")
    papercast = make_papercast(database_url, tmp_path, embedding_model="hashing")  # a restart
    try:
        with TestClient(web_app(papercast, follow=False)) as client:  # what `serve` builds
            body = client.get(QUERY).json()
            assert body["mode"] == "vector" and len(body["results"]) == 5
            assert any("keyword index is damaged" in warning for warning in body["warnings"])
            page = client.get("/search?q=convolutional vision")
            assert page.status_code == 200 and "keyword index is damaged" in page.text
        seen: list[int] = []
        follower = papercast.index_follower()
        with TestClient(web_app(papercast, follow=True)) as client:  # now with its worker
            _wait_until(lambda: follower.keyword is not None and follower.keyword_problem is None,
                        client, seen)
            assert set(seen) == {200}
            body = client.get(QUERY + "&offset=0").json()
            assert body["mode"] == "hybrid" and not body["warnings"] and len(body["results"]) == 5
    finally:
        papercast.close()


def test_a_running_app_notices_damage_under_it_and_rebuilds_while_answering(
        database_url: str, tmp_path: Path) -> None:
    papercast = _indexed(database_url, tmp_path)
    follower = papercast.index_follower()
    follower.verify_every = 0  # check the files every round instead of every minute
    try:
        with TestClient(web_app(papercast, follow=True)) as client:
            assert client.get(QUERY).json()["mode"] == "hybrid"
            damaged = keyword_directory(tmp_path / "index")
            KEYWORD_DAMAGE["segment-truncated"](tmp_path / "index")
            KEYWORD_DAMAGE["tantivy-meta-corrupted"](tmp_path / "index")
            seen: list[int] = []
            _wait_until(lambda: follower.keyword is not None and follower.keyword.directory != damaged
                        and follower.keyword_problem is None, client, seen)
            assert set(seen) == {200}
            body = client.get(QUERY + "&limit=6").json()
            assert body["mode"] == "hybrid" and len(body["results"]) == 6
        assert follower.status().keyword_problem is None
    finally:
        papercast.close()
