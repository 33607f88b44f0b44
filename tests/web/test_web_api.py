"""The JSON API under /api/v1: shapes (checked against the OpenAPI models), problems, paging,
caching and CORS, on SQLite and PostgreSQL."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from fastapi.testclient import TestClient
from web_corpus import FILLER_COUNT, HOSTILE_ID, LOCAL_ID, MATH_ID, OLD_STYLE_ID

from papercast.bootstrap import Papercast
from papercast.presenters import paper_as_json
from papercast.web.api import schemas

PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance"}


def query_of(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    assert parts.netloc == "testserver"
    return dict(parse_qsl(parts.query))


def assert_problem(response, status: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) >= PROBLEM_FIELDS and body["status"] == status
    schemas.Problem.model_validate(body)
    return body  # type: ignore[no-any-return]


def test_paper_is_the_shared_json_shape_plus_links(client: TestClient, papercast: Papercast) -> None:
    response = client.get(f"/api/v1/papers/{OLD_STYLE_ID}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    schemas.Paper.model_validate(body)
    links = body.pop("links")
    assert body == paper_as_json(papercast.catalog.paper(OLD_STYLE_ID))
    assert links == {"self": f"/api/v1/papers/{OLD_STYLE_ID}", "html": f"/papers/{OLD_STYLE_ID}",
                     "abs": f"https://arxiv.org/abs/{OLD_STYLE_ID}", "pdf": f"https://arxiv.org/pdf/{OLD_STYLE_ID}"}
    assert client.get(f"/api/v1/papers/arXiv:{MATH_ID}v1").json()["id"] == MATH_ID
    local = client.get(f"/api/v1/papers/{LOCAL_ID}").json()
    assert local["links"]["abs"] is None and local["announced_on"] is None


def test_unknown_paper_route_and_parameters_are_problems(client: TestClient) -> None:
    body = assert_problem(client.get("/api/v1/papers/2301.99999"), 404)
    assert body["instance"] == "/api/v1/papers/2301.99999"
    assert_problem(client.get("/api/v1/papers/not-an-id!"), 404)
    assert_problem(client.get("/api/v1/nothing/here"), 404)
    invalid = assert_problem(client.get("/api/v1/papers?limit=1000"), 422)
    assert invalid["errors"] == [{"field": "limit", "message": "Input should be less than or equal to 100"}]
    assert_problem(client.get("/api/v1/papers?since=0"), 422)
    assert_problem(client.get("/api/v1/papers?since=2021-02-31"), 400)
    assert_problem(client.get("/api/v1/search"), 422)
    assert_problem(client.get("/api/v1/categories/not!valid"), 422)
    assert_problem(client.get("/api/v1/authors/Nobody%20Atall"), 404)
    assert_problem(client.post("/api/v1/papers"), 405)


def test_recent_papers_page_with_links_and_since(client: TestClient) -> None:
    response = client.get("/api/v1/papers?limit=5")
    body = response.json()
    schemas.PaperList.model_validate(body)
    assert body["total"] == FILLER_COUNT + 4 and len(body["papers"]) == 5
    assert body["links"]["prev"] is None
    assert query_of(body["links"]["next"]) == {"limit": "5", "offset": "5"}
    assert response.headers["link"] == f'<{body["links"]["next"]}>; rel="next"'
    middle = client.get(body["links"]["next"])
    assert 'rel="prev"' in middle.headers["link"] and 'rel="next"' in middle.headers["link"]
    since = client.get("/api/v1/papers?since=2021-01-05&limit=100").json()
    # February's fillers, the paper of 5 January, and the undated paper (stored today)
    assert since["total"] == FILLER_COUNT + 2
    found = {p["id"] for p in since["papers"]}
    assert {MATH_ID, LOCAL_ID} <= found and HOSTILE_ID not in found


def test_search_results_shape_and_paging(client: TestClient) -> None:
    response = client.get("/api/v1/search?q=vision&limit=10&offset=10")
    assert response.status_code == 200
    body = response.json()
    schemas.SearchResults.model_validate(body)
    assert body["query"] == "vision" and body["sort"] == "relevance" and body["mode"] == "catalog"
    assert body["total_estimate"] == FILLER_COUNT and len(body["results"]) == 10
    assert query_of(body["links"]["prev"]) == {"q": "vision", "offset": "0", "limit": "10"}
    assert query_of(body["links"]["next"]) == {"q": "vision", "offset": "20", "limit": "10"}
    assert any(segment["match"] for segment in body["results"][0]["snippet"])
    assert client.get("/api/v1/search?q=zzzunknownword").json()["results"] == []


def test_similar_author_and_category(client: TestClient) -> None:
    similar = client.get(f"/api/v1/papers/{MATH_ID}/similar").json()
    schemas.SimilarPapers.model_validate(similar)
    assert [r["paper"]["id"] for r in similar["results"]] == [HOSTILE_ID]
    assert client.get("/api/v1/papers/2301.99999/similar").status_code == 404
    author = client.get("/api/v1/authors/Ada%20Lovelace").json()
    schemas.AuthorPapers.model_validate(author)
    assert author["author"] == {"name": "Ada Lovelace", "key": "ada lovelace"}
    assert [p["id"] for p in author["papers"]] == [MATH_ID, HOSTILE_ID]
    category = client.get("/api/v1/categories/cs.CV?limit=3").json()
    schemas.CategoryPapers.model_validate(category)
    assert category["category"] == "cs.CV" and category["total"] == FILLER_COUNT
    assert len(category["papers"]) == 3


def test_etag_and_if_none_match_give_304(client: TestClient) -> None:
    first = client.get(f"/api/v1/papers/{MATH_ID}")
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and "max-age=" in first.headers["cache-control"]
    again = client.get(f"/api/v1/papers/{MATH_ID}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    strong = client.get(f"/api/v1/papers/{MATH_ID}", headers={"If-None-Match": etag.removeprefix("W/")})
    assert strong.status_code == 304
    other = client.get(f"/api/v1/papers/{MATH_ID}", headers={"If-None-Match": 'W/"something-else"'})
    assert other.status_code == 200
    page = client.get("/")
    assert client.get("/", headers={"If-None-Match": page.headers["etag"]}).status_code == 304


def test_cors_allows_any_origin_to_read_the_api_and_feeds(client: TestClient) -> None:
    for path in ("/api/v1/papers", "/feeds/recent.atom", "/api/v1/papers/2301.99999"):
        response = client.get(path, headers={"Origin": "https://example.org"})
        assert response.headers["access-control-allow-origin"] == "*", path
    preflight = client.options("/api/v1/papers", headers={
        "Origin": "https://example.org", "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 204
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert "access-control-allow-origin" not in client.get("/").headers  # pages are not shared


def test_openapi_document_and_offline_docs_page(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    paths = set(spec["paths"])
    assert paths >= {"/api/v1/search", "/api/v1/papers", "/api/v1/papers/{paper_id}",
                     "/api/v1/papers/{paper_id}/similar", "/api/v1/authors/{name}",
                     "/api/v1/categories/{category}", "/feeds/recent.atom"}
    assert not any(path.startswith(("/papers", "/search", "/authors")) for path in paths)  # pages are not API
    problem = spec["paths"]["/api/v1/papers/{paper_id}"]["get"]["responses"]["404"]["content"]
    assert list(problem) == ["application/problem+json"]
    assert "Problem" in spec["components"]["schemas"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "<script" not in docs.text.replace(
        '<script src="/static/papercast.js', "")  # no CDN, no inline script: only our own file
    assert "GET /api/v1/papers/{paper_id}/similar" in docs.text
