"""papercast as people and API clients meet it: `papercast serve` in a subprocess on 127.0.0.1,
driven by a real browser (Playwright with Debian's /usr/bin/chromium, never a downloaded one)
and fuzzed by schemathesis from its own OpenAPI document.

The catalog is the demo corpus, the arXiv snapshot sample from ../shared/data, and two papers
of our own: a hostile one and one full of LaTeX; search is the search service over an index
built with `papercast index rebuild`. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
BIN = Path(sys.executable).parent
# Debian's chromium, which `make test` installs (scripts/ensure-system-packages looks at the same path).
CHROMIUM = Path(os.environ.get("PAPERCAST_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOSTILE = {"id": "test-hostile", "title": "<script>alert(1)</script>",
           "abstract": "<img src=x onerror=alert(1)> and broken LaTeX like $\\frac{1}{ with no end."}
MATHS = {"id": "test-maths", "title": "Bounds on $\\frac{\\ell_1}{\\ell_2}$ for SL$^{2}$A-INR networks",
         "abstract": "We show $\\sum_{i=1}^{n} x_i^2 \\le \\sqrt{n}$ for every $n$, a very long formula "
                     "$a_1 + a_2 + a_3 + a_4 + a_5 + a_6 + a_7 + a_8 + a_9 + a_{10} + a_{11} + a_{12}$ too."}
NARROW = 390


def base_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items()
            if not key.startswith("PAPERCAST_") and "proxy" not in key.lower()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def papercast(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([str(BIN / "papercast"), *args], env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@dataclass
class LiveServer:
    """`papercast serve` on a free loopback port, started and stopped by the test."""

    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("wb") as log:
            command = [str(BIN / "papercast"), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                       "--no-worker"]
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"server did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def serve(database_url: str, data_dir: Path, *, full_corpus: bool) -> Iterator[LiveServer]:
    env = {**base_env(), "PAPERCAST_DATABASE_URL": database_url, "PAPERCAST_DATA_DIR": str(data_dir),
           "PAPERCAST_WEB_RATE_LIMIT_PER_MINUTE": "0", "PAPERCAST_LOG_LEVEL": "WARNING",
           "PAPERCAST_EMBEDDING_MODEL": "hashing"}  # no model to load: keyword search, no vectors
    papercast(env, "demo")
    ours = data_dir / "ours.jsonl"
    ours.write_text("\n".join(json.dumps(record) for record in (HOSTILE, MATHS)) + "\n", encoding="utf-8")
    papercast(env, "ingest", "--format", "jsonl", str(ours))
    if full_corpus:
        sample = REPO.parent / "shared" / "data" / "arxiv-abs-sample.jsonl"
        papercast(env, "ingest", str(sample))
    papercast(env, "index", "rebuild")  # the server runs --no-worker: its index is this one
    server = LiveServer(env, data_dir / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("browser")
    yield from serve(f"sqlite:///{data_dir / 'papercast.db'}", data_dir, full_corpus=True)


# --- the browser ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Skips where playwright is missing; under CI that fails (tests/support/ci.py).
    playwright_api = pytest.importorskip("playwright.sync_api",
                                         reason="playwright is not installed (make venv)")
    if not CHROMIUM.exists():
        pytest.fail(f"no {CHROMIUM}: `make test` installs it, or apt-get install chromium"
                    " (never `playwright install`)")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Watch:
    """Everything a page complained about: console errors, dialogs (alert!), failed requests."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[tuple[Any, Watch]]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    watch = Watch()
    opened.on("console", lambda message: message.type == "error" and watch.errors.append(message.text))
    opened.on("pageerror", lambda error: watch.errors.append(str(error)))
    opened.on("dialog", lambda dialog: (watch.dialogs.append(dialog.message), dialog.dismiss()))
    yield opened, watch
    context.close()
    assert watch.dialogs == [], "a dialog opened: something ran script it should not have"
    assert watch.errors == [], f"console errors (CSP violations show here too): {watch.errors}"


def shot(page: Any, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def result_links(page: Any) -> Any:
    return page.locator(".paper-list .paper-title a")


def test_search_from_home_then_open_a_paper(page: tuple[Any, Watch]) -> None:
    tab, _ = page
    tab.goto("/")
    assert tab.locator("h1").first.inner_text() == "Trending papers"
    shot(tab, "home")
    tab.fill("#q", "attention")
    tab.press("#q", "Enter")
    tab.wait_for_url("**/search?q=attention*")
    assert result_links(tab).count() > 0
    shot(tab, "search-attention")
    title = result_links(tab).first.inner_text()
    result_links(tab).first.click()
    tab.wait_for_selector("#paper-title")
    assert "/papers/" in tab.url and tab.locator("#paper-title").inner_text() == title
    shot(tab, "paper-from-search")


def test_follow_a_similar_paper_and_an_author(page: tuple[Any, Watch]) -> None:
    tab, _ = page
    tab.goto("/papers/hep-th/9901001")
    heading = tab.locator("#similar-heading").inner_text()
    similar = tab.locator(".similar .paper-title a")
    assert similar.count() > 0, heading
    target = similar.first.get_attribute("href")
    similar.first.click()
    tab.wait_for_url(f"**{target}")
    assert tab.locator("#paper-title").count() == 1 and target != "/papers/hep-th/9901001"
    author = tab.locator("article .paper-authors a").first
    name = author.inner_text()
    author.click()
    tab.wait_for_url("**/authors/**")
    assert tab.locator("h1").inner_text() == name
    assert tab.locator(f'.paper-list a[href="{target}"]').count() == 1
    shot(tab, "author")


def test_page_through_results(page: tuple[Any, Watch]) -> None:
    tab, _ = page
    tab.goto("/search?q=neural")
    first_page = result_links(tab).all_inner_texts()
    assert len(first_page) == 20
    tab.click("a[rel=next]")
    tab.wait_for_url("**page=2*")
    second_page = result_links(tab).all_inner_texts()
    assert second_page and not set(first_page) & set(second_page)
    assert tab.locator("ol.paper-list").get_attribute("start") == "21"
    tab.click("a[rel=prev]")
    tab.wait_for_url("**page=1*")
    assert result_links(tab).all_inner_texts() == first_page


def focused(tab: Any) -> dict[str, str]:
    result: dict[str, str] = tab.evaluate("""() => {
        const element = document.activeElement;
        return {id: element.id || '', href: element.getAttribute('href') || '',
                cls: element.parentElement ? element.parentElement.className : ''};
    }""")
    return result


def tab_until(tab: Any, wanted: Any, limit: int = 40) -> None:
    for _ in range(limit):
        tab.keyboard.press("Tab")
        if wanted(focused(tab)):
            return
    raise AssertionError(f"Tab never reached the element; last focus {focused(tab)}")


def test_keyboard_only_search_and_open(page: tuple[Any, Watch]) -> None:
    tab, _ = page
    tab.goto("/")
    tab_until(tab, lambda element: element["id"] == "q")
    tab.keyboard.type("transformer")
    tab.keyboard.press("Enter")
    tab.wait_for_url("**/search?q=transformer*")
    tab_until(tab, lambda element: element["cls"] == "paper-title" and element["href"].startswith("/papers/"))
    target = focused(tab)["href"]
    shot(tab, "keyboard-focus", full_page=False)
    tab.keyboard.press("Enter")
    tab.wait_for_url(f"**{target}")
    assert tab.locator("#paper-title").count() == 1


def test_hostile_paper_is_inert_text(page: tuple[Any, Watch]) -> None:
    tab, watch = page
    tab.goto("/papers/test-hostile")
    assert tab.locator("#paper-title").inner_text() == HOSTILE["title"]
    assert tab.title() == f"{HOSTILE['title']} · papercast"
    assert "<img src=x onerror=alert(1)>" in tab.locator(".abstract").inner_text()
    assert tab.locator("img").count() == 0
    tab.goto("/search?q=alert")
    assert HOSTILE["title"] in result_links(tab).all_inner_texts()
    shot(tab, "hostile")
    assert watch.dialogs == []


def test_maths_render_as_mathml(page: tuple[Any, Watch]) -> None:
    tab, _ = page
    tab.goto("/papers/test-maths")
    formulas = tab.locator("#paper-title math")
    assert formulas.count() == 2
    box = formulas.first.bounding_box()
    assert box is not None and box["width"] > 5 and box["height"] > 10  # laid out as a fraction
    assert "SL" in tab.locator("#paper-title").inner_text()
    shot(tab, "maths")


NARROW_PAGES = ["/", "/search?q=attention", "/papers/test-maths", "/papers/1810.04805", "/about",
                "/api/docs", "/authors/Jacob%20Devlin", "/categories/cs.CL", "/no/such/page"]


def test_no_horizontal_scrolling_at_390_pixels(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(base_url=live_server.url, viewport={"width": NARROW, "height": 844},
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    tab = context.new_page()
    try:
        for path in NARROW_PAGES:
            tab.goto(path)
            width = tab.evaluate("() => document.documentElement.scrollWidth")
            assert width <= NARROW, (path, width)
            shot(tab, "narrow-" + (path.strip("/").replace("/", "-").replace("?", "-") or "home"))
    finally:
        context.close()


def test_pages_work_without_javascript(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    tab = context.new_page()
    try:
        tab.goto("/")
        tab.fill("#q", "attention")
        tab.press("#q", "Enter")
        tab.wait_for_url("**/search?q=attention*")
        assert result_links(tab).count() > 0
    finally:
        context.close()


# --- signing in ---------------------------------------------------------------------------------------


def mailed_path(server: LiveServer, address: str, route: str) -> str:
    """Send the outbox with the files mailer, as the worker would, and read the link to `route` (its
    path: links are built from PAPERCAST_BASE_URL, not this test server's port) from the newest
    .eml to `address`."""
    papercast(server.env, "mail", "send")
    mail_dir = Path(server.env["PAPERCAST_DATA_DIR"]) / "mail"
    for written in sorted(mail_dir.glob("*.eml"), key=lambda path: path.stat().st_mtime, reverse=True):
        message = message_from_bytes(written.read_bytes(), policy=policy.default)
        if message["To"] == address:
            text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            found = re.search(rf"https?://[^/\s]+({re.escape(route)}\?token=\S+)", text)
            assert found, text
            return found.group(1)
    raise AssertionError(f"no mail to {address} in {mail_dir}")


def mailed_sign_in_path(server: LiveServer, address: str) -> str:
    return mailed_path(server, address, "/sign-in/confirm")


def sign_in_through_the_pages(tab: Any, server: LiveServer, address: str) -> None:
    """Ask for a link on the sign-in page, open the mailed link, press its button."""
    tab.goto("/")
    tab.click("header a[href='/sign-in']")
    tab.fill("#email", address)
    tab.click("form.account-form button[type=submit]")
    tab.wait_for_url("**/sign-in?sent=1")
    assert "a sign-in link is on its way" in tab.locator("main").inner_text()
    tab.goto(mailed_sign_in_path(server, address))
    assert address in tab.locator("h1").inner_text()
    tab.click("form.account-form button[type=submit]")
    tab.wait_for_url(f"{server.url}/")
    assert tab.locator("header a[href='/settings']").count() == 1


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_sign_in_by_mail_then_sign_out(browser: Any, live_server: LiveServer, javascript: bool) -> None:
    address = f"reader-{'js' if javascript else 'nojs'}@example.org"
    context = browser.new_context(base_url=live_server.url, java_script_enabled=javascript)
    tab = context.new_page()
    try:
        sign_in_through_the_pages(tab, live_server, address)
        session = next(cookie for cookie in context.cookies() if cookie["name"] == "papercast_session")
        assert session["httpOnly"] and session["sameSite"] == "Lax"
        tab.click("header a[href='/settings']")
        tab.fill("#token-name", "my script")
        tab.check("input[name=scope][value=write]")
        tab.click("form[action='/settings/tokens'] button[type=submit]")
        token = tab.locator("#new-token").inner_text()
        assert token.startswith("pct_")
        shot(tab, f"settings-new-token-{'js' if javascript else 'nojs'}")
        me = httpx.get(f"{live_server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert (me["email"], me["scope"]) == (address, "write")
        tab.click("header form[action='/sign-out'] button")
        tab.wait_for_url(f"{live_server.url}/")
        assert tab.locator("header a[href='/sign-in']").count() == 1
        assert not any(cookie["name"] == "papercast_session" for cookie in context.cookies())
    finally:
        context.close()


# --- subscribing to the digest -----------------------------------------------------------------------


def subscriber(server: LiveServer, address: str) -> dict[str, Any]:
    listed = json.loads(papercast(server.env, "subscribers", "list", "--json"))["subscribers"]
    found: dict[str, Any] = next(item for item in listed if item["email"] == address)
    return found


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_subscribe_from_the_footer_and_confirm_by_mail(browser: Any, live_server: LiveServer,
                                                       javascript: bool) -> None:
    """The footer form of any page, the whole form, the mailed link, its button: with script the
    browser's time zone (Asia/Tokyo here) is filled in; without, the digest goes out in UTC."""
    mode = "js" if javascript else "nojs"
    address = f"digest-{mode}@example.org"
    context = browser.new_context(base_url=live_server.url, java_script_enabled=javascript,
                                  timezone_id="Asia/Tokyo")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", lambda message: message.type == "error" and errors.append(message.text))
    try:
        tab.goto("/search?q=attention")
        tab.fill("#subscribe-email", address)
        tab.click("footer form.subscribe-form button[type=submit]")
        tab.wait_for_url("**/subscribe?*")
        assert tab.locator("#subscribe-page-email").input_value() == address
        assert tab.locator("#subscribe-topics").input_value() == "attention"  # the page's search
        assert tab.locator("#subscribe-zone").input_value() == ("Asia/Tokyo" if javascript else "")
        tab.check("input[name=frequency][value=weekly]")
        tab.click("form.subscribe-page-form button[type=submit]")
        tab.wait_for_url("**/subscribe?sent=1")
        assert "a confirmation link is on its way" in tab.locator("main").inner_text()
        assert subscriber(live_server, address)["state"] == "unconfirmed"
        tab.goto(mailed_path(live_server, address, "/subscribe/confirm"))
        assert address in tab.locator("h1").inner_text()
        assert subscriber(live_server, address)["state"] == "unconfirmed"  # opening the link changes nothing
        shot(tab, f"subscribe-confirm-{mode}")
        tab.click("main form button[type=submit]")
        tab.wait_for_url("**/subscribe/preferences?*confirmed=1")
        assert "Your subscription is confirmed." in tab.locator("main").inner_text()
        found = subscriber(live_server, address)
        assert found["state"] == "confirmed", tab.locator("main").inner_text()
        assert (found["topics"], found["frequency"]) == (["attention"], "weekly")
        assert found["time_zone"] == ("Asia/Tokyo" if javascript else "UTC")
        shot(tab, f"subscribe-confirmed-{mode}")
        assert errors == []
    finally:
        context.close()


# --- votes and trending -------------------------------------------------------------------------------


def trending_order(tab: Any) -> list[str]:
    return tab.locator(".paper-list .marks").evaluate_all("nodes => nodes.map(n => n.dataset.paper)")


def liftable(server: LiveServer) -> str:
    """A paper of the first trending page that one more upvote lifts above the paper ranked just
    above it (from the API's numbers: the score is log10(1 + points) plus a recency term that a
    vote leaves alone)."""
    results = httpx.get(f"{server.url}/api/v1/trending?limit=20").json()["results"]
    for above, candidate in zip(results[-2::-1], results[:0:-1], strict=True):
        recency = candidate["score"] - math.log10(1 + candidate["points"])
        if math.log10(2 + candidate["points"]) + recency > above["score"]:
            return str(candidate["paper"]["id"])
    raise AssertionError("no trending paper that one upvote lifts")


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_upvote_lifts_a_paper_in_trending_and_taking_it_back_restores_it(
        browser: Any, live_server: LiveServer, javascript: bool) -> None:
    mode = "js" if javascript else "nojs"
    context = browser.new_context(base_url=live_server.url, java_script_enabled=javascript)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", lambda message: message.type == "error" and errors.append(message.text))
    try:
        sign_in_through_the_pages(tab, live_server, f"voter-{mode}@example.org")
        paper_id = liftable(live_server)
        before = trending_order(tab)
        button = tab.locator(f".marks[data-paper='{paper_id}'] form[data-mark='vote'] button")
        points = float(button.locator(".points").inner_text())
        for pressed, expected_points in (("true", points + 1), ("false", points)):
            if javascript:
                tab.evaluate("window.stillThisPage = true")
                button.click()
                tab.wait_for_selector(f".marks[data-paper='{paper_id}'] form[data-mark='vote'] "
                                      f"button[aria-pressed='{pressed}']")
                assert tab.evaluate("window.stillThisPage === true")  # no reload: changed in place
                assert float(button.locator(".points").inner_text()) == expected_points
                tab.reload()
            else:
                with tab.expect_navigation():
                    button.click()
            assert button.get_attribute("aria-pressed") == pressed
            after = trending_order(tab)
            if pressed == "true":
                assert after.index(paper_id) < before.index(paper_id), (paper_id, before, after)
                shot(tab, f"trending-upvoted-{mode}")
            else:
                assert after == before
        assert errors == []
    finally:
        context.close()


# --- schemathesis -------------------------------------------------------------------------------------


@pytest.fixture
def fuzz_target(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    yield from serve(database_url, tmp_path, full_corpus=False)


def test_schemathesis_finds_no_server_errors(fuzz_target: LiveServer, tmp_path: Path) -> None:
    """Every operation of /api/v1/openapi.json, fuzzed within a bounded budget: no 5xx, and every
    answer conforms to the document (status codes, content types, schemas, headers)."""
    command = [str(BIN / "st"), "--config-file", str(Path(__file__).with_name("schemathesis.toml")), "run",
               f"{fuzz_target.url}/api/v1/openapi.json", "--url", fuzz_target.url,
               "--checks", "all", "--max-examples", "15", "--seed", "20261128", "--request-timeout", "10",
               "--workers", "2", "--no-color"]  # (--max-time would repeat fuzzing until it is spent)
    result = subprocess.run(command, capture_output=True, text=True, timeout=110, cwd=tmp_path, check=False,
                            env=base_env())
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    counts = re.search(r"(\d+) generated, (\d+) passed\n", result.stdout)  # a warning (no data) is fine
    assert counts is not None, result.stdout
    assert counts.group(1) == counts.group(2) and int(counts.group(1)) > 100, result.stdout


# --- for you ------------------------------------------------------------------------------------------


def for_you_order(tab: Any) -> list[str]:
    return tab.locator(".paper-list .paper-item:visible .marks").evaluate_all(
        "nodes => nodes.map(n => n.dataset.paper)")


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_for_you_lists_papers_and_not_interested_hides_one(browser: Any, live_server: LiveServer,
                                                           javascript: bool) -> None:
    mode = "js" if javascript else "nojs"
    context = browser.new_context(base_url=live_server.url, java_script_enabled=javascript)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", lambda message: message.type == "error" and errors.append(message.text))
    try:
        sign_in_through_the_pages(tab, live_server, f"for-you-{mode}@example.org")
        tab.click("header a[href='/for-you']")
        tab.wait_for_url(f"{live_server.url}/for-you")
        before = for_you_order(tab)
        assert len(before) >= 5  # a reader without signals gets trending, then the newest papers
        hidden = before[0]
        button = tab.locator(f".marks[data-paper='{hidden}'] form.hide-form button")
        if javascript:
            tab.evaluate("window.stillThisPage = true")
            button.click()
            tab.wait_for_selector(f".marks[data-paper='{hidden}']", state="hidden")
            assert tab.evaluate("window.stillThisPage === true")  # hidden in place, no reload
            tab.reload()
        else:
            with tab.expect_navigation():
                button.click()
        after = for_you_order(tab)
        assert hidden not in after and after[:3] == before[1:4]
        shot(tab, f"for-you-{mode}")
        assert errors == []
    finally:
        context.close()
