"""The HTML part of a real digest in a real browser (Playwright with Debian's chromium) at 320 and
1280 px: it fits the width, loads nothing from anywhere, and every link on it resolves on the
running `papercast serve` it names (arXiv links, outside this machine, are checked for their form)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_string, policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from papercast.bootstrap import build
from papercast.settings import Settings
from papercast.storage.tables import mail_outbox
from support.clock import ManualClock
from support.digests import daily, import_subscribers, load_catalog
from support.smtp_server import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
BIN = Path(sys.executable).parent
CHROMIUM = Path(os.environ.get("PAPERCAST_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARXIV = re.compile(r"https://arxiv\.org/(abs|pdf)/2612\.\d{5}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(the running server's URL, the HTML part of a digest planned on it)."""
    data_dir = tmp_path_factory.mktemp("digest-browser")
    url = f"http://127.0.0.1:{free_port()}"
    env = {**{key: value for key, value in os.environ.items()
              if not key.startswith("PAPERCAST_") and "proxy" not in key.lower()},
           "PAPERCAST_DATABASE_URL": f"sqlite:///{data_dir / 'papercast.db'}",
           "PAPERCAST_DATA_DIR": str(data_dir),
           "PAPERCAST_BASE_URL": url, "PAPERCAST_MAIL_FROM": "papers@example.org",
           "PAPERCAST_EMBEDDING_MODEL": "hashing", "PAPERCAST_WEB_RATE_LIMIT_PER_MINUTE": "0",
           "PAPERCAST_LOG_LEVEL": "WARNING"}
    papercast = build(Settings.load(env=env), ManualClock(datetime(2026, 12, 3, 8, 0, tzinfo=UTC)))
    try:
        load_catalog(papercast)  # the index the server (--no-worker) searches is this one
        import_subscribers(papercast, [("ann@example.org", daily("diffusion", "cat:quant-ph"))])
        assert papercast.digests().plan().queued == 1
        with papercast.engine.connect() as connection:
            message = connection.execute(select(mail_outbox.c.message)
                                         .where(mail_outbox.c.kind == "digest")).scalar_one()
    finally:
        papercast.close()
    html = message_from_string(message, policy=policy.default).get_body(("html",)).get_content()  # type: ignore[union-attr]
    log = (data_dir / "server.log").open("wb")
    server = subprocess.Popen([str(BIN / "papercast"), "serve", "--host", "127.0.0.1", "--port",
                               url.rsplit(":", 1)[1], "--no-worker"], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            running = server.poll() is None and time.monotonic() < deadline
            assert running, (data_dir / "server.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url, html
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api",
                                         reason="playwright is not installed (make venv)")
    if not CHROMIUM.exists():
        pytest.fail(f"no {CHROMIUM}: `make test` installs it, or apt-get install chromium")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.mark.parametrize("width", [320, 1280])
def test_the_digest_reads_at_this_width_loads_nothing_and_every_link_resolves(
        browser: Any, site: tuple[str, str], width: int) -> None:
    url, html = site
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.set_content(html)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"digest-{width}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing wider than the screen
    assert requests == [] and page.locator("img, script, link, style").count() == 0
    assert page.locator("h2").all_inner_texts()[:2] == ["Trending today", "diffusion"]
    links = page.eval_on_selector_all("a", "elements => elements.map(element => element.href)")
    context.close()
    assert any("/unsubscribe?token=" in link for link in links)
    assert any("/subscribe/preferences?token=" in link for link in links)
    with httpx.Client(timeout=30) as client:
        for link in dict.fromkeys(links):
            if link.startswith(url):
                answer = client.get(link)
                assert answer.status_code == 200, (link, answer.status_code)
            else:
                assert ARXIV.fullmatch(link), link  # no other host: no trackers, no redirects
