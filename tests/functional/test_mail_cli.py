"""`papercast mail` and the mail settings from the command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from pathlib import Path

from typer.testing import CliRunner

from papercast.cli.main import app
from support.smtp_server import free_port

runner = CliRunner()


def papercast(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_mail_test_queues_and_sends_a_message_into_the_mail_folder(settings_env: dict[str, str]) -> None:
    env = {**settings_env, "PAPERCAST_MAIL_FROM": "Papercast <papers@example.org>",
           "PAPERCAST_BASE_URL": "https://papers.example.org"}
    code, out, _ = papercast(env, "mail", "test", "ada@example.org", "--send", "--json")
    assert code == 0
    shown = json.loads(out)
    assert (shown["state"], shown["to"], shown["send"]["sent"]) == ("sent", "ada@example.org", 1)
    [written] = (Path(settings_env["PAPERCAST_DATA_DIR"]) / "mail").iterdir()
    message = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert message["Message-ID"] == shown["message_id"]
    assert "The site: https://papers.example.org/" in message.get_body(("plain",)).get_content()

    code, out, _ = papercast(env, "mail", "list", "--json")
    assert json.loads(out)["counts"] == {"queued": 0, "sending": 0, "sent": 1, "failed": 0, "expired": 0}
    code, out, _ = papercast(env, "mail", "show", str(shown["id"]), "--json")
    assert [(e["from"], e["to"]) for e in json.loads(out)["events"]] == [
        (None, "queued"), ("queued", "sending"), ("sending", "sent")]
    code, out, _ = papercast(env, "mail", "show", str(shown["id"]), "--raw")
    assert f"Message-ID: {shown['message_id']}" in out


def test_mail_test_without_send_leaves_the_message_to_the_worker(settings_env: dict[str, str]) -> None:
    code, out, _ = papercast(settings_env, "mail", "test", "ada@example.org")
    assert (code, out.startswith("queued message 1 to ada@example.org")) == (0, True)
    code, out, _ = papercast(settings_env, "mail", "list")
    assert out.splitlines()[0] == "1 queued, 0 sending, 0 sent, 0 failed, 0 expired"
    code, out, _ = papercast(settings_env, "mail", "send")
    assert (code, out.strip()) == (0, "1 sent, 0 to retry, 0 failed, 0 expired, 0 possibly sent twice")


def test_a_bad_address_is_one_line_naming_the_field(settings_env: dict[str, str]) -> None:
    code, _, err = papercast(settings_env, "mail", "test", "ada@example.org\r\nBcc: victim@example.org")
    assert code == 2
    assert err.startswith("error: to holds a line break") and len(err.strip().splitlines()) == 1


def test_an_unreachable_smtp_server_is_reported_and_the_message_kept(settings_env: dict[str, str]) -> None:
    env = {**settings_env, "PAPERCAST_SMTP_HOST": "127.0.0.1", "PAPERCAST_SMTP_PORT": str(free_port()),
           "PAPERCAST_SMTP_SECURITY": "none", "PAPERCAST_SMTP_TIMEOUT": "2"}
    code, out, err = papercast(env, "mail", "test", "ada@example.org", "--send")
    assert code == 1
    assert "not sent yet, will retry" in out and "cannot open an SMTP session with 127.0.0.1" in out
    code, out, _ = papercast(env, "mail", "list", "--json")
    assert json.loads(out)["messages"][0]["attempts"] == 0


def test_config_show_redacts_the_smtp_password_read_from_a_file(settings_env: dict[str, str],
                                                                tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("hunter2\n")
    code, out, _ = papercast({**settings_env, "PAPERCAST_SMTP_PASSWORD_FILE": str(secret)}, "config", "show")
    assert code == 0
    assert "PAPERCAST_SMTP_PASSWORD=***" in out.splitlines() and "hunter2" not in out
