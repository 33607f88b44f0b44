"""The HTML pages over a real catalog, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from types import SimpleNamespace

from fastapi.testclient import TestClient
from web_corpus import (
    FILLER_COUNT,
    HOSTILE_ID,
    LOCAL_ID,
    MATH_ID,
    OLD_STYLE_ID,
    PAGE_SIZE,
)

from papercast.bootstrap import Papercast
from papercast.domain.fusion import FusionWeights
from papercast.web.app import create_app

TOTAL = FILLER_COUNT + 4


def paper_links(html: str) -> list[str]:
    return re.findall(r'<h3 class="paper-title"><a href="/papers/([^"]+)">', html)


def test_home_lists_newest_first_and_pages(client: TestClient) -> None:
    first = client.get("/?tab=newest")
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/html")
    assert f"{TOTAL} papers in the catalog" in first.text
    ids = paper_links(first.text)
    assert len(ids) == PAGE_SIZE and ids[0] == f"2102.{FILLER_COUNT:05d}"  # the newest filler
    assert 'rel="next" href="/?tab=newest&amp;page=2"' in first.text and 'rel="prev"' not in first.text
    last = client.get("/?tab=newest&page=3")
    assert paper_links(last.text)[-4:] == [MATH_ID, HOSTILE_ID, OLD_STYLE_ID, LOCAL_ID]  # undated last
    assert 'rel="prev" href="/?tab=newest&amp;page=2"' in last.text and 'rel="next"' not in last.text


def test_home_page_beyond_the_last_is_empty_not_an_error(client: TestClient) -> None:
    response = client.get("/?tab=newest&page=40")
    assert response.status_code == 200
    assert paper_links(response.text) == []


def test_bad_page_number_is_a_400_page(client: TestClient) -> None:
    response = client.get("/?page=zero")
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]
    assert "bad parameter" in response.text


def test_paper_page_shows_everything_with_links(client: TestClient) -> None:
    response = client.get(f"/papers/{MATH_ID}")
    assert response.status_code == 200
    html = response.text
    assert '<a href="/authors/Ada%20Lovelace">Ada Lovelace</a>' in html
    assert '<a href="/authors/Alan%20Turing">Alan Turing</a>' in html
    assert 'href="/categories/cs.LG"' in html and 'href="/categories/stat.ML"' in html
    assert f'href="https://arxiv.org/abs/{MATH_ID}"' in html
    assert f'href="https://arxiv.org/pdf/{MATH_ID}"' in html
    assert 'href="https://doi.org/10.1000/xyz"' in html
    assert "v1: <time" in html and "v2: <time" in html and "1 Feb 2021" in html
    assert "12 pages" in html


def test_old_style_id_keeps_its_slash(client: TestClient) -> None:
    response = client.get(f"/papers/{OLD_STYLE_ID}")
    assert response.status_code == 200
    assert f'href="https://arxiv.org/abs/{OLD_STYLE_ID}"' in response.text
    assert f'href="https://arxiv.org/pdf/{OLD_STYLE_ID}"' in response.text


def test_local_paper_has_no_arxiv_links(client: TestClient) -> None:
    response = client.get(f"/papers/{LOCAL_ID}")
    assert response.status_code == 200
    assert "arxiv.org" not in response.text


def test_other_spellings_of_an_id_redirect_to_the_canonical_page(client: TestClient) -> None:
    for spelling in (f"arXiv:{MATH_ID}v2", f"{MATH_ID}v1"):
        response = client.get(f"/papers/{spelling}")
        assert response.status_code == 301
        assert response.headers["location"] == f"/papers/{MATH_ID}"


def test_unknown_and_malformed_papers_get_a_useful_404(client: TestClient) -> None:
    for path in ("/papers/2301.99999", "/papers/not an id", "/no/such/page"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"]
        assert "Page not found" in response.text
        assert 'action="/search"' in response.text  # a way on from the dead end
        assert "Traceback" not in response.text


def test_similar_section_falls_back_to_the_category(client: TestClient) -> None:
    html = client.get(f"/papers/{MATH_ID}").text
    assert "More in cs.LG" in html
    assert f'href="/papers/{HOSTILE_ID}"' in html  # the other cs.LG paper


class FakeSearch:
    """A search backend with the search service's shape."""

    def search(self, query_text: str, sort: str, offset: int, limit: int) -> SimpleNamespace:
        hits = [SimpleNamespace(paper_id=OLD_STYLE_ID, score=0.5, title="", snippet="strings")]
        return SimpleNamespace(results=hits, total_estimate=1, mode="hybrid", warnings=[], took_ms=1.5)

    def similar(self, paper_id: str, limit: int) -> SimpleNamespace:
        hits = [SimpleNamespace(paper_id=OLD_STYLE_ID, score=0.9, title="", snippet=None),
                SimpleNamespace(paper_id="2999.00001", score=0.8, title="", snippet=None)]  # not stored
        return SimpleNamespace(results=hits, total_estimate=2, mode="vector", warnings=[], took_ms=1.0)


def test_search_backend_drives_similar_papers_and_results(papercast: Papercast) -> None:
    with TestClient(create_app(papercast.web_services(search_backend=FakeSearch()))) as client:
        html = client.get(f"/papers/{MATH_ID}").text
        assert "Similar papers" in html
        assert f'href="/papers/{OLD_STYLE_ID}"' in html
        results = client.get("/search?q=anything").text
        assert paper_links(results) == [OLD_STYLE_ID]
        similar = client.get(f"/api/v1/papers/{MATH_ID}/similar").json()
        assert [r["paper"]["id"] for r in similar["results"]] == [OLD_STYLE_ID]
        assert similar["mode"] == "vector"


def test_author_page_lists_their_papers(client: TestClient) -> None:
    response = client.get("/authors/Ada%20Lovelace")
    assert response.status_code == 200
    assert paper_links(response.text) == [MATH_ID, HOSTILE_ID]
    assert "2 papers" in response.text
    assert client.get("/authors/ada%20lovelace").status_code == 200  # names match case-insensitively
    assert client.get("/authors/Nobody%20Atall").status_code == 404


def test_category_page_includes_cross_lists_and_pages(client: TestClient) -> None:
    assert paper_links(client.get("/categories/stat.ML").text) == [MATH_ID]
    vision = client.get("/categories/cs.CV")
    assert len(paper_links(vision.text)) == PAGE_SIZE
    assert 'rel="next" href="/categories/cs.CV?page=2"' in vision.text
    assert 'href="/feeds/categories/cs.CV.atom"' in vision.text
    empty = client.get("/categories/math.GT")
    assert empty.status_code == 200 and "No papers here yet" in empty.text
    assert client.get("/categories/not a category!").status_code == 404


def test_search_page_finds_pages_and_explains(client: TestClient) -> None:
    empty = client.get("/search")
    assert empty.status_code == 200 and "author:vaswani" in empty.text
    response = client.get("/search?q=vision")
    assert response.status_code == 200
    assert f"{FILLER_COUNT} results" in response.text
    assert len(paper_links(response.text)) == PAGE_SIZE
    assert 'rel="next" href="/search?q=vision&amp;page=2"' in response.text
    assert "<mark>vision</mark>" in response.text or "<mark>Vision</mark>" in response.text
    page_three = client.get("/search?q=vision&page=3")
    assert len(paper_links(page_three.text)) == FILLER_COUNT - 2 * PAGE_SIZE
    assert 'rel="prev" href="/search?q=vision&amp;page=2"' in page_three.text
    assert client.get("/search?q=vision&sort=sideways").status_code == 400


def test_about_page_documents_ranking(client: TestClient) -> None:
    html = client.get("/about").text
    floor, weight = FusionWeights().similarity_floor, FusionWeights().keyword_weight
    assert "z-scores" in html and f"<strong>{floor}</strong>" in html and f"<mn>{weight}</mn>" in html
    assert 'id="trending"' in html


def test_static_files_are_served_with_long_caching(client: TestClient) -> None:
    html = client.get("/").text
    css = re.search(r'href="(/static/papercast\.css\?v=[0-9a-f]+)"', html)
    assert css is not None
    response = client.get(css.group(1))
    assert response.status_code == 200 and "text/css" in response.headers["content-type"]
    assert "max-age=604800" in response.headers["cache-control"]
    script = re.search(r'<script src="(/static/papercast\.js\?v=[0-9a-f]+)" defer></script>', html)
    assert script is not None and client.get(script.group(1)).status_code == 200


def test_head_is_answered_like_get_without_a_body(client: TestClient) -> None:
    response = client.head(f"/papers/{MATH_ID}")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 1000
