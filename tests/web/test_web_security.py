"""Security of every response: headers everywhere, hostile metadata escaped on every page and
feed, math rendered as sanitized MathML, and no stack trace ever reaching a client."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from web_corpus import HOSTILE_ID, HOSTILE_TITLE, MATH_ID

from papercast.bootstrap import Papercast
from papercast.web.app import create_app
from papercast.web.headers import CONTENT_SECURITY_POLICY

EXPECTED_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "DENY",
}
# Every page and feed that shows the hostile paper (title, abstract or author name).
HOSTILE_PAGES = [
    "/?tab=newest&page=3", f"/papers/{HOSTILE_ID}", "/authors/Ada%20Lovelace", "/categories/cs.LG",
    "/search?q=alert", "/search?q=onerror",
    f"/papers/{MATH_ID}",  # the similar section lists the hostile paper
]
HOSTILE_FEEDS = ["/feeds/recent.atom", "/feeds/search.atom?q=alert", "/feeds/categories/cs.LG.atom"]
HOSTILE_API = [f"/api/v1/papers/{HOSTILE_ID}", "/api/v1/search?q=alert", "/api/v1/categories/cs.LG"]


def assert_security_headers(response) -> None:  # type: ignore[no-untyped-def]
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, (response.request.url, name)


def test_csp_is_strict() -> None:
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'self'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_security_headers_on_every_kind_of_response(client: TestClient) -> None:
    page = client.get("/")
    static = re.search(r'href="(/static/papercast\.css[^"]*)"', page.text)
    assert static is not None
    responses = [
        page, client.get(static.group(1)), client.get(f"/papers/{MATH_ID}"), client.get("/api/v1/papers"),
        client.get("/feeds/recent.atom"), client.get("/nowhere"), client.get("/api/v1/papers/2301.99999"),
        client.get("/api/v1/papers?limit=0"), client.get("/healthz"), client.get("/metrics"),
        client.get("/api/docs"), client.get("/api/v1/openapi.json"), client.head("/"),
        client.get("/", headers={"If-None-Match": page.headers["etag"]}),
        client.get(f"/papers/arXiv:{MATH_ID}v1"),  # a redirect
        client.options("/api/v1/papers", headers={"Origin": "https://x.example",
                                                  "Access-Control-Request-Method": "GET"}),
    ]
    statuses = {response.status_code for response in responses}
    assert {200, 204, 301, 304, 404, 422} <= statuses
    for response in responses:
        assert_security_headers(response)


class ElementCollector(HTMLParser):
    """Every start tag of a page, with its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    collector = ElementCollector()
    collector.feed(html)
    return collector.tags


def test_pages_use_no_inline_script_style_or_handlers(client: TestClient) -> None:
    for path in [*HOSTILE_PAGES, "/about", "/api/docs", "/nowhere"]:
        tags = elements(client.get(path).text)
        scripts = [attrs.get("src") or "" for tag, attrs in tags if tag == "script"]
        assert len(scripts) == 1 and re.fullmatch(r"/static/papercast\.js\?v=[0-9a-f]+", scripts[0]), path
        assert not [tag for tag, _ in tags if tag in ("style", "img", "iframe", "object", "embed")], path
        for tag, attrs in tags:
            assert "style" not in attrs, (path, tag)
            assert not [name for name in attrs if name.startswith("on")], (path, tag, attrs)
            for name in ("href", "src", "action"):
                assert not (attrs.get(name) or "").lower().startswith(("javascript:", "data:")), (path, attrs)


@pytest.mark.parametrize("path", HOSTILE_PAGES)
def test_hostile_metadata_is_escaped_on_pages(client: TestClient, path: str) -> None:
    html = client.get(path).text
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html and "<b>Mallory</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or "&lt;img src=x onerror=alert(1)&gt;" in html


def test_hostile_paper_page_shows_the_text_as_text(client: TestClient) -> None:
    html = client.get(f"/papers/{HOSTILE_ID}").text
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; · papercast</title>" in html
    assert "&lt;img src=x onerror=alert(1)&gt; plus broken LaTeX like $\\frac{1}{ that never closes" in html
    assert "Eve &lt;b&gt;Mallory&lt;/b&gt;" in html
    assert 'href="/authors/Eve%20%3Cb%3EMallory%3C%2Fb%3E"' in html
    author = client.get("/authors/Eve%20%3Cb%3EMallory%3C%2Fb%3E")
    assert author.status_code == 200 and "<b>Mallory</b>" not in author.text


@pytest.mark.parametrize("path", HOSTILE_FEEDS)
def test_hostile_metadata_is_escaped_in_feeds(client: TestClient, path: str) -> None:
    xml = client.get(path).text
    assert "<script>" not in xml and "<img" not in xml and "<b>" not in xml
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in xml


@pytest.mark.parametrize("path", HOSTILE_API)
def test_hostile_metadata_is_data_in_json(client: TestClient, path: str) -> None:
    text = client.get(path).text
    assert HOSTILE_TITLE in text or "alert(1)" in text  # JSON carries the text; clients must escape it
    assert client.get(path).headers["x-content-type-options"] == "nosniff"


def test_latex_is_rendered_as_mathml(client: TestClient) -> None:
    html = client.get(f"/papers/{MATH_ID}").text
    title = re.search(r'<h1 id="paper-title" class="paper-heading">(.*?)</h1>', html, re.S)
    assert title is not None
    assert title.group(1).count("<math ") == 2
    assert "<mfrac>" in title.group(1) and "ℓ" in title.group(1)
    assert "SL<math" in title.group(1) and "</math>A-INR" in title.group(1)
    assert "<msup><mi>x</mi><mn>2</mn></msup>" in html
    assert "cost $5 or $10 per <em>a priori</em> run" in html  # prices are not math


def test_abstract_with_broken_latex_is_text_everywhere(client: TestClient) -> None:
    for path in (f"/papers/{HOSTILE_ID}", "/categories/cs.LG"):
        html = client.get(path).text
        assert "$\\frac{1}{" in html, path


class ExplodingSearch:
    def search(self, query_text: str, sort: str, offset: int, limit: int) -> SimpleNamespace:
        raise RuntimeError("secret internal detail /etc/passwd")

    def similar(self, paper_id: str, limit: int) -> SimpleNamespace:
        raise RuntimeError("secret internal detail /etc/passwd")


def test_unexpected_errors_are_friendly_logged_and_never_a_trace(
        papercast: Papercast, caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(create_app(papercast.web_services(search_backend=ExplodingSearch()))) as client:
        page = client.get("/search?q=boom")
        api = client.get("/api/v1/search?q=boom")
    assert page.status_code == 500 and "text/html" in page.headers["content-type"]
    assert "Something went wrong" in page.text
    reference = re.search(r"logged as <code>([0-9a-f]{12})</code>", page.text)
    assert reference is not None
    assert api.status_code == 500 and api.headers["content-type"] == "application/problem+json"
    for response in (page, api):
        assert "Traceback" not in response.text and "secret internal detail" not in response.text
        assert_security_headers(response)
    assert any(reference.group(1) in record.getMessage() and record.exc_info for record in caplog.records)
