"""`papercast harvest` as a user runs it: the installed command in a subprocess, against a real
local server that replays arXiv's OAI-PMH and API responses. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.replay_server import (  # noqa: F401 - replay_server_fixture is the `replay_server` fixture
    OAI_INVENIO,
    OAI_SAELIM,
    ReplayServer,
    recorded_api,
    replay_server_fixture,
)

pytestmark = pytest.mark.slow

PAPERCAST = Path(sys.executable).parent / "papercast"
TOKEN = "726959|1001"
FIRST_REQUEST = {"verb": "ListRecords", "metadataPrefix": "arXivRaw", "set": "cs", "from": "2015-01-01"}
TOKEN_REQUEST = {"verb": "ListRecords", "resumptionToken": TOKEN}
REPORT_FIELDS = {"new", "updated", "unchanged", "rejected", "rejections", "pages", "resumed", "complete"}
# Arrival times are taken on the server: the first request (new connection: accept, new thread)
# is stamped later than a kept-alive one, which shortens the gap seen on a busy machine (by 56 ms
# once, under a load of 10 on 2 cores). Without the default interval the gap would be near 0.
TOLERANCE = 0.5


def base_env() -> dict[str, str]:
    """The test's environment without PAPERCAST_* settings or proxies that could leak in."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith("PAPERCAST_") and "proxy" not in key.lower()}


def papercast(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PAPERCAST), *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.fixture
def cli_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**base_env(), **settings_env, "PAPERCAST_HARVEST_REQUEST_INTERVAL": "0.05"}


@pytest.fixture
def oai_server(replay_server: ReplayServer, shared_data: Path) -> ReplayServer:
    replay_server.route("/oai", {"verb": "ListRecords", "resumptionToken": None},
                        body=(OAI_SAELIM / "ListRecordsResponse.xml").read_bytes())
    replay_server.route("/oai", TOKEN_REQUEST,
                        body=(OAI_INVENIO / "sample_arxiv_response_listrecords_cs.xml").read_bytes())
    return replay_server


def harvest_report(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # stdout is the one JSON report, nothing else
    assert set(report) >= REPORT_FIELDS
    return report


def test_an_interrupted_cli_harvest_resumes_and_completes(cli_env: dict[str, str],
                                                          oai_server: ReplayServer) -> None:
    args = ["harvest", "arxiv", "--base-url", oai_server.url_for("/oai"), "--set", "cs",
            "--from", "2015-01-01"]

    first = harvest_report(papercast(cli_env, *args, "--max-pages", "1", "--json"))

    assert {key: first[key] for key in REPORT_FIELDS} == {
        "new": 6, "updated": 0, "unchanged": 0, "rejected": 0, "rejections": [], "pages": 1,
        "resumed": False, "complete": False}
    shown = papercast(cli_env, "papers", "show", "1501.03810", "--json")
    assert shown.returncode == 1 and "1501.03810" in shown.stderr  # page two is not there yet

    second = harvest_report(papercast(cli_env, *args, "--json"))

    assert {key: second[key] for key in REPORT_FIELDS} == {
        "new": 46, "updated": 0, "unchanged": 0, "rejected": 0, "rejections": [], "pages": 1,
        "resumed": True, "complete": True}
    assert [r.params for r in oai_server.requests] == [FIRST_REQUEST, TOKEN_REQUEST]

    shown = papercast(cli_env, "papers", "show", "1501.03810", "--json")
    assert shown.returncode == 0, shown.stderr
    paper = json.loads(shown.stdout)
    assert paper["id"] == "1501.03810"
    assert "arxiv-oai" in paper["sources"]
    assert paper["title"] and paper["authors"]


def test_the_default_interval_keeps_three_seconds_between_requests(
        tmp_path: Path, oai_server: ReplayServer) -> None:
    env = {**base_env(), "PAPERCAST_DATA_DIR": str(tmp_path / "data")}  # SQLite, every default

    report = harvest_report(papercast(env, "harvest", "arxiv", "--base-url", oai_server.url_for("/oai"),
                                      "--set", "cs", "--from", "2015-01-01", "--json"))

    assert report["complete"] and report["pages"] == 2
    (gap,) = oai_server.gaps()
    assert gap >= 3.0 - TOLERANCE, gap


def test_an_arxiv_api_error_is_one_line_and_exit_status_2(cli_env: dict[str, str],
                                                          replay_server: ReplayServer,
                                                          shared_data: Path) -> None:
    recorded = recorded_api("id_abc_*")
    replay_server.route("/api/query", {"id_list": "abc"}, status=recorded.status, body=recorded.body)

    result = papercast(cli_env, "harvest", "arxiv-api", "--base-url", replay_server.url_for("/api/query"),
                       "--id-list", "abc", "--json")

    assert result.returncode == 2
    assert result.stdout == ""
    assert "error: arXiv API error: incorrect id format for abc" in result.stderr
    assert "Traceback" not in result.stderr
