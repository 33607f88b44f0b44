"""`papercast subscribers import|list|remove` as an operator runs them, on SQLite and PostgreSQL:
JSON lines and CSV (BOM, CRLF, quoting, topics separated by `;`), bad rows refused by line while
the rest is imported, duplicates within the file, existing addresses updated, ended ones kept
ended, and removal of the personal data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from papercast.bootstrap import Papercast, build
from papercast.cli.main import app
from papercast.domain.subscriptions import Frequency, Preferences, Subscriber, SubscriberState
from papercast.settings import Settings
from papercast.storage.tables import link_tokens, mail_outbox, subscriber_topics, subscribers

runner = CliRunner()
S = SubscriberState


@pytest.fixture
def env(settings_env: dict[str, str]) -> dict[str, str]:
    return settings_env


@pytest.fixture
def papercast(env: dict[str, str]) -> Iterator[Papercast]:
    papercast = build(Settings.load(env=env))
    yield papercast
    papercast.close()


def cli(env: dict[str, str], *args: str) -> Result:
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def by_email(papercast: Papercast) -> dict[str | None, Subscriber]:
    return {item.email: item for item in papercast.subscriptions().list()}


JSONL_ROWS = [
    {"email": "Ann@Example.org", "topics": ["cat:cs.LG", '"graph neural" -survey'], "frequency": "weekly",
     "send_hour": 7, "time_zone": "Europe/Berlin", "consented_at": "2024-05-01T09:30:00Z", "name": "Ann"},
    {"email": "bob@example.org", "consented_at": "2024-05-02"},
    {"email": "not an address", "consented_at": "2024-05-02"},
    {"email": "cat@example.org", "topics": ["vision\r\nBcc: eve@example.org"], "consented_at": "2024-05-02"},
    {"email": "dan@example.org", "time_zone": "Mars/Olympus", "consented_at": "2024-05-02"},
    {"email": "eve@example.org\r\nBcc: x@example.org", "consented_at": "2024-05-02"},
    {"email": "fay@example.org", "send_hour": 24, "consented_at": "2024-05-02"},
    {"email": "gus@example.org"},
    {"email": "hal@example.org", "consented_at": "2999-01-01T00:00:00Z"},
    {"email": "ann@example.org", "consented_at": "2024-05-03"},
    {"email": "ivy@example.org", "frequncy": "daily", "consented_at": "2024-05-02"},
    {"email": "jo@example.org", "topics": "cat:cs.LG", "consented_at": "2024-05-02"},
]


def test_import_json_lines_rejects_bad_rows_by_line_and_imports_the_rest(tmp_path: Path, env: dict[str, str],
                                                                        papercast: Papercast) -> None:
    path = tmp_path / "list.jsonl"
    lines = [json.dumps(row) for row in JSONL_ROWS]
    lines.insert(2, "")  # blank lines are skipped (and counted as lines)
    lines.append("{not json")
    lines.append("[1, 2]")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli(env, "subscribers", "import", str(path), "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert (report["added"], report["updated"]) == (2, 0)
    reasons = {item["location"]: item["reason"] for item in report["rejections"]}
    assert sorted(reasons, key=lambda where: int(where.split()[1])) == [f"line {n}" for n in range(4, 16)]
    assert "email" in reasons["line 4"] and "topics: holds a line break" in reasons["line 5"]
    assert "time_zone" in reasons["line 6"] and "line break" in reasons["line 7"]
    assert "send_hour" in reasons["line 8"] and "consented_at" in reasons["line 9"]
    assert "future" in reasons["line 10"] and reasons["line 11"] == "ann@example.org is on line 1 already"
    assert "'frequncy'" in reasons["line 12"] and "list of queries" in reasons["line 13"]
    assert "not JSON" in reasons["line 14"] and "not a JSON object" in reasons["line 15"]
    found = by_email(papercast)
    ann = found["ann@example.org"]
    assert ann.state is S.CONFIRMED and ann.source == "import" and ann.name == "Ann"
    assert ann.consented_at == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    assert ann.preferences == Preferences(("cat:cs.LG", '"graph neural" -survey'),
                                          Frequency.WEEKLY, 7, "Europe/Berlin")
    bob = found["bob@example.org"]
    assert bob.preferences == Preferences() and bob.consented_at == datetime(2024, 5, 2, tzinfo=UTC)
    assert set(found) == {"ann@example.org", "bob@example.org"}


def test_import_csv_with_bom_crlf_and_quoting(tmp_path: Path, env: dict[str, str],
                                              papercast: Papercast) -> None:
    path = tmp_path / "export.csv"
    text = ("\ufeffEmail,topics,frequency,send_hour,time_zone,consented_at\r\n"
            'ann@example.org,"cat:cs.LG;""graph neural"" -survey",weekly,7,Europe/Berlin,'
            "2024-05-01T09:30:00+02:00\r\n"
            '"bob@example.org","vision; transformers",,,,2024-05-02\r\n'
            "\r\n"
            'cat@example.org,"cat:not_a_category!",daily,8,UTC,2024-05-02\r\n'
            'dan@example.org,"multi\r\nline",daily,8,UTC,2024-05-02\r\n'
            "eve@example.org,vision,daily\r\n"
            'fay@example.org,"unclosed,daily,8,UTC,2024-05-02\r\n')
    path.write_bytes(text.encode("utf-8"))
    result = cli(env, "subscribers", "import", str(path), "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert (report["added"], report["updated"]) == (2, 0)
    reasons = {item["location"]: item["reason"] for item in report["rejections"]}
    assert set(reasons) == {"line 5", "line 6", "line 8", "line 9"}, reasons
    assert "topics" in reasons["line 5"] and "values for 6 columns" in reasons["line 8"]
    found = by_email(papercast)
    assert found["ann@example.org"].preferences == Preferences(
        ("cat:cs.LG", '"graph neural" -survey'), Frequency.WEEKLY, 7, "Europe/Berlin")
    assert found["ann@example.org"].consented_at == datetime(2024, 5, 1, 7, 30, tzinfo=UTC)
    assert found["bob@example.org"].preferences.topics == ("vision", "transformers")


def test_a_csv_header_papercast_does_not_know_stops_the_file(tmp_path: Path, env: dict[str, str],
                                                            papercast: Papercast) -> None:
    path = tmp_path / "list.csv"
    path.write_text("email,phone\nann@example.org,123\n", encoding="utf-8")
    result = cli(env, "subscribers", "import", str(path))
    assert result.exit_code == 2 and "line 1" in result.stderr and "phone" in result.stderr
    path.write_bytes(b"email\nann@example.org\n\xff\xfe\n")
    result = cli(env, "subscribers", "import", str(path))
    assert result.exit_code == 2 and "line 3: not UTF-8" in result.stderr
    assert cli(env, "subscribers", "import", str(tmp_path / "missing.csv")).exit_code == 2
    assert cli(env, "subscribers", "import", str(path), "--format", "xml").exit_code == 2
    assert papercast.subscriptions().list() == []


def test_an_existing_address_is_updated_and_an_ended_one_is_not_revived(tmp_path: Path, env: dict[str, str],
                                                                        papercast: Papercast) -> None:
    service = papercast.subscriptions()
    service.request("ann@example.org", Preferences(("old",)), "203.0.113.7")
    gone = tmp_path / "first.jsonl"
    gone.write_text(json.dumps({"email": "gone@example.org", "consented_at": "2024-01-01"}) + "\n")
    assert cli(env, "subscribers", "import", str(gone)).exit_code == 0
    [gone_subscriber] = [item for item in service.list() if item.email == "gone@example.org"]
    service.unsubscribe_by_link(service.unsubscribe_path(gone_subscriber).split("token=")[1])
    path = tmp_path / "again.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in (
        {"email": "ann@example.org", "topics": ["new"], "consented_at": "2024-05-01"},
        {"email": "gone@example.org", "consented_at": "2024-05-01"})) + "\n")
    result = cli(env, "subscribers", "import", str(path))
    assert result.exit_code == 1
    assert result.stdout.strip() == "0 added, 1 updated, 1 rejected"
    assert "line 2: gone@example.org: this address unsubscribed" in result.stderr
    found = by_email(papercast)
    assert found["ann@example.org"].state is S.CONFIRMED
    assert found["ann@example.org"].preferences.topics == ("new",)
    assert found["gone@example.org"].state is S.UNSUBSCRIBED
    assert len(found) == 2


def test_list_and_remove(tmp_path: Path, env: dict[str, str], papercast: Papercast) -> None:
    path = tmp_path / "list.jsonl"
    path.write_text("\n".join(json.dumps({"email": f"r{n}@example.org", "topics": ["vision"],
                                          "consented_at": "2024-05-01"}) for n in range(3)) + "\n")
    assert cli(env, "subscribers", "import", str(path)).exit_code == 0
    papercast.subscriptions().request("new@example.org", Preferences(), "203.0.113.7")
    listed = json.loads(cli(env, "subscribers", "list", "--json").stdout)["subscribers"]
    assert [item["email"] for item in listed] == [f"r{n}@example.org" for n in range(3)] + ["new@example.org"]
    assert listed[0]["topics"] == ["vision"] and listed[0]["consented_at"].startswith("2024-05-01")
    confirmed = json.loads(cli(env, "subscribers", "list", "--state", "confirmed", "--json").stdout)
    assert len(confirmed["subscribers"]) == 3
    table = cli(env, "subscribers", "list")
    assert table.exit_code == 0 and "r0@example.org" in table.stdout and "unconfirmed" in table.stdout
    assert cli(env, "subscribers", "list", "--state", "gone").exit_code == 2

    removed = cli(env, "subscribers", "remove", "NEW@example.org", "--json")
    assert removed.exit_code == 0 and json.loads(removed.stdout)["removed"] == "new@example.org"
    with papercast.engine.connect() as connection:
        assert connection.execute(select(subscribers.c.id).where(subscribers.c.email == "new@example.org")) \
            .first() is None
        assert connection.execute(select(link_tokens)
                                  .where(link_tokens.c.subject == "new@example.org")).first() is None
        assert connection.execute(select(mail_outbox).where(mail_outbox.c.recipient == "new@example.org")) \
            .first() is None
        assert connection.execute(select(subscriber_topics)).all() != []  # the others' topics stay
    missing = cli(env, "subscribers", "remove", "new@example.org")
    assert missing.exit_code == 1 and "no subscriber new@example.org" in missing.stderr
    assert cli(env, "subscribers", "list").stdout.count("@example.org") == 3
