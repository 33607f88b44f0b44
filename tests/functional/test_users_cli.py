"""`papercast users` on SQLite and PostgreSQL: add, list, disable, enable, and a printed sign-in
link that signs the reader in through the web."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from papercast.bootstrap import build
from papercast.cli.main import app
from papercast.settings import Settings
from papercast.web.app import create_app

runner = CliRunner()


def papercast(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_users_are_added_listed_disabled_and_enabled(settings_env: dict[str, str]) -> None:
    code, out, _ = papercast(settings_env, "users", "add", "Ann@Example.org", "--admin", "--json")
    assert code == 0 and json.loads(out) | {"id": 0, "created_at": ""} == {
        "id": 0, "email": "ann@example.org", "state": "active", "is_admin": True, "created_at": "",
        "last_sign_in_at": None}
    assert papercast(settings_env, "users", "add", "bob@example.org")[1].startswith("added bob@example.org")
    code, _, err = papercast(settings_env, "users", "add", "ann@example.org")
    assert code == 2 and err.strip() == "error: ann@example.org has an account already"
    code, out, _ = papercast(settings_env, "users", "disable", "bob@example.org")
    assert (code, out.strip().split(" (")[0]) == (0, "disabled bob@example.org")
    code, out, _ = papercast(settings_env, "users", "list", "--json")
    assert [(u["email"], u["state"], u["is_admin"]) for u in json.loads(out)["users"]] == [
        ("ann@example.org", "active", True), ("bob@example.org", "disabled", False)]
    assert "bob@example.org" in papercast(settings_env, "users", "list")[1]
    assert papercast(settings_env, "users", "enable", "bob@example.org")[0] == 0
    code, _, err = papercast(settings_env, "users", "disable", "nobody@example.org")
    assert code == 1 and "no account for nobody@example.org" in err
    code, _, err = papercast(settings_env, "users", "add", "not an address")
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_a_printed_login_link_signs_in_once(settings_env: dict[str, str]) -> None:
    env = {**settings_env, "PAPERCAST_BASE_URL": "https://papers.example.org/pc"}
    papercast(env, "users", "add", "ann@example.org")
    code, out, _ = papercast(env, "users", "login-link", "ann@example.org", "--json")
    assert code == 0 and json.loads(out)["minutes"] == 30
    url = json.loads(out)["url"]
    assert url.startswith("https://papers.example.org/pc/sign-in/confirm?token=")
    settings = Settings.load(env={}, data_dir=settings_env["PAPERCAST_DATA_DIR"],
                             database_url=settings_env["PAPERCAST_DATABASE_URL"])
    site = build(settings)
    try:
        with TestClient(create_app(site.web_services()), follow_redirects=False) as browser:
            path = url.removeprefix("https://papers.example.org/pc")
            landing = browser.get(path)
            csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', landing.text)
            assert landing.status_code == 200 and csrf
            token = path.split("token=", 1)[1]
            assert browser.post("/sign-in/confirm", data={"token": token, "csrf_token": csrf.group(1)}) \
                .status_code == 303
            assert browser.get("/api/v1/me").json()["email"] == "ann@example.org"
            assert browser.get(path).status_code == 400  # used
    finally:
        site.close()


def test_no_login_link_for_unknown_or_disabled_accounts(settings_env: dict[str, str]) -> None:
    code, _, err = papercast(settings_env, "users", "login-link", "ann@example.org")
    assert code == 1 and "papercast users add ann@example.org" in err
    papercast(settings_env, "users", "add", "ann@example.org")
    papercast(settings_env, "users", "disable", "ann@example.org")
    code, _, err = papercast(settings_env, "users", "login-link", "ann@example.org")
    assert code == 2 and "disabled" in err
