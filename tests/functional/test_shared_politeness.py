"""Politeness across processes, on SQLite and PostgreSQL: two papercasts (as two processes would)
harvesting from one host at once keep to one request at a time and the interval between request
starts, through the turns the database holds; `pacing_host` treats arXiv's hosts as one."""

from __future__ import annotations

import threading
from pathlib import Path

from papercast.bootstrap import build
from papercast.settings import Settings
from papercast.sources.http import pacing_host
from support.replay_server import ReplayServer, replay_server_fixture  # noqa: F401 - the fixture

INTERVAL = 0.2
REQUESTS_EACH = 4


def test_two_processes_take_turns_at_one_host(database_url: str, tmp_path: Path,
                                              replay_server: ReplayServer) -> None:
    settings = Settings.load(env={}, data_dir=tmp_path / "data", database_url=database_url,
                             harvest_request_interval=INTERVAL, harvest_timeout=30.0)
    processes = [build(settings), build(settings)]
    clients = [papercast.http_client() for papercast in processes]
    replay_server.route("/oai", None, body=b"<ok/>", delay=0.05)
    replay_server.route("/hf", None, body=b"[]", delay=0.05)
    barrier = threading.Barrier(2)

    def harvest(client_index: int, path: str) -> None:
        barrier.wait()
        for n in range(REQUESTS_EACH):
            clients[client_index].get(replay_server.url_for(path), {"n": str(n)})

    threads = [threading.Thread(target=harvest, args=(0, "/oai")),
               threading.Thread(target=harvest, args=(1, "/hf"))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for client in clients:
            client.close()
        for papercast in processes:
            papercast.close()
    assert len(replay_server.requests) == 2 * REQUESTS_EACH
    assert replay_server.max_concurrency == 1
    # Start to start, as the server saw it. Without shared turns the two clients send at once (gaps
    # near 0); with them each gap is the interval, less the scheduling delay of a loaded machine
    # between the client's start and the server's arrival: half the interval is a bound that
    # cannot flake and still fails without turns.
    assert min(replay_server.gaps()) >= INTERVAL * 0.5


def test_arxivs_hosts_share_one_turn() -> None:
    assert pacing_host("https://oaipmh.arxiv.org/oai?verb=ListRecords") == "arxiv.org"
    assert pacing_host("https://export.arxiv.org/api/query") == "arxiv.org"
    assert pacing_host("https://huggingface.co/api/daily_papers") == "huggingface.co"
    assert pacing_host("http://127.0.0.1:8123/oai") == "127.0.0.1"
