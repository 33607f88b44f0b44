"""`papercast digests preview|plan|send|status`, `--at` and `--json`, on SQLite and PostgreSQL:
the preview sends nothing, plan queues what is due at --at, send delivers it (to .eml files here)
and status counts the period; bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papercast.bootstrap import build
from papercast.settings import Settings
from support.cli import run_papercast
from support.digests import BASE, daily, import_subscribers, load_catalog


@pytest.fixture
def env(settings_env: dict[str, str]) -> dict[str, str]:
    env = {**settings_env, "PAPERCAST_BASE_URL": BASE, "PAPERCAST_MAIL_FROM": "papers@example.org",
           "PAPERCAST_EMBEDDING_MODEL": "hashing"}
    papercast = build(Settings.load(env=env))
    try:
        load_catalog(papercast)
        import_subscribers(papercast, [("ann@example.org", daily("diffusion")),
                                       ("kiwi@example.org", daily("cat:quant-ph", zone="Pacific/Auckland"))])
    finally:
        papercast.close()
    return env


def cli_json(env: dict[str, str], *args: str) -> dict[str, object]:
    status, out, err = run_papercast(env, *args, "--json")
    assert status == 0, err
    parsed: dict[str, object] = json.loads(out)
    return parsed


def test_preview_plan_send_and_status(env: dict[str, str]) -> None:
    status, text, _ = run_papercast(env, "digests", "preview", "ann@example.org", "--at",
                                    "2026-12-03T08:00:00Z")
    assert status == 0 and "A survey of diffusion samplers" in text and "Unsubscribe with one click" in text
    status, html, _ = run_papercast(env, "digests", "preview", "ann@example.org", "--at", "2026-12-03T08:00Z",
                                    "--html")
    assert status == 0 and html.lstrip().startswith("<!DOCTYPE html>")
    assert cli_json(env, "digests", "status") == {"period": None, "counts": {}}  # previews record nothing

    # 07:59 UTC is 20:59 in Auckland: kiwi's 3 December digest is due, not ann's (08:00 UTC).
    early = cli_json(env, "digests", "plan", "--at", "2026-12-03T07:59:00Z")
    assert (early["queued"], early["periods"]) == (1, {"2026-12-03": 1})
    assert cli_json(env, "digests", "plan", "--at", "2026-12-03T08:00:00+00:00")["queued"] == 1
    assert cli_json(env, "digests", "plan", "--at", "2026-12-03T09:00:00Z")["queued"] == 0

    sent = cli_json(env, "digests", "send", "--at", "2026-12-03T09:05:00Z")
    assert (sent["sent"], sent["failed"], sent["settled"]) == (2, 0, 2)
    assert len(list((Path(env["PAPERCAST_DATA_DIR"]) / "mail").glob("*.eml"))) == 2
    report = cli_json(env, "digests", "status", "--period", "2026-12-03")
    assert report["period"] == "2026-12-03" and report["counts"]["sent"] == 2  # type: ignore[index]
    status, line, _ = run_papercast(env, "digests", "status")
    assert status == 0 and line.startswith("period 2026-12-03: ")


def test_bad_input_is_one_line(env: dict[str, str]) -> None:
    status, _, err = run_papercast(env, "digests", "plan", "--at", "tomorrow")
    assert status == 2 and "'tomorrow' is not a time like 2026-12-03T08:00:00Z" in err
    status, _, err = run_papercast(env, "digests", "preview", "nobody@example.org")
    assert status == 1 and err.strip() == "error: no subscriber nobody@example.org"
