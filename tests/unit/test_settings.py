"""Settings: parsing, redaction, and the generated configuration document staying true."""

from __future__ import annotations

from pathlib import Path

import pytest

from papercast.domain.errors import InvalidInput
from papercast.settings import Settings, configuration_markdown

REPO = Path(__file__).resolve().parents[2]


def test_configuration_doc_is_generated_from_the_settings_table() -> None:
    assert (REPO / "docs" / "configuration.md").read_text() == configuration_markdown(), (
        "docs/configuration.md is stale: run `papercast config docs > docs/configuration.md`")


def test_environment_overrides_defaults_and_bad_values_are_named(tmp_path: Path) -> None:
    settings = Settings.load(env={"PAPERCAST_DATA_DIR": str(tmp_path), "PAPERCAST_INGEST_BATCH_SIZE": "7"})
    assert settings.data_dir == tmp_path
    assert settings.ingest_batch_size == 7
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'papercast.db'}"
    with pytest.raises(InvalidInput, match="PAPERCAST_INGEST_BATCH_SIZE"):
        Settings.load(env={"PAPERCAST_INGEST_BATCH_SIZE": "many"})


def test_toml_file_and_unknown_keys(tmp_path: Path) -> None:
    config = tmp_path / "papercast.toml"
    config.write_text('[papercast]\ningest_batch_size = 50\n')
    assert Settings.load(env={"PAPERCAST_CONFIG": str(config)}).ingest_batch_size == 50
    config.write_text('[papercast]\nbatch = 50\n')
    with pytest.raises(InvalidInput, match="unknown settings batch"):
        Settings.load(env={"PAPERCAST_CONFIG": str(config)})


def test_secrets_are_redacted() -> None:
    settings = Settings.load(env={"PAPERCAST_DATABASE_URL": "postgresql+psycopg://app:hunter2@db:5432/pc"})
    shown = settings.redacted()["PAPERCAST_DATABASE_URL"]
    assert "hunter2" not in shown
    assert shown == "postgresql+psycopg://app:***@db:5432/pc"


def test_a_secret_is_read_from_its_file_variable_without_the_trailing_newline(tmp_path: Path) -> None:
    password_file = tmp_path / "smtp-password"
    password_file.write_text("s3cret word\n")
    url_file = tmp_path / "database-url"
    url_file.write_text("postgresql+psycopg://app:hunter2@db/pc\r\n")
    settings = Settings.load(env={"PAPERCAST_SMTP_PASSWORD_FILE": str(password_file),
                                  "PAPERCAST_DATABASE_URL_FILE": str(url_file)})
    assert settings.smtp_password == "s3cret word"
    assert settings.database_url == "postgresql+psycopg://app:hunter2@db/pc"


def test_a_secret_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(InvalidInput, match="PAPERCAST_SMTP_PASSWORD_FILE") as raised:
        Settings.load(env={"PAPERCAST_SMTP_PASSWORD_FILE": str(missing)})
    assert str(missing) in str(raised.value)


def test_a_secret_given_both_directly_and_as_a_file_is_refused(tmp_path: Path) -> None:
    password_file = tmp_path / "smtp-password"
    password_file.write_text("one")
    with pytest.raises(InvalidInput, match="PAPERCAST_SMTP_PASSWORD or PAPERCAST_SMTP_PASSWORD_FILE"):
        Settings.load(env={"PAPERCAST_SMTP_PASSWORD": "two",
                           "PAPERCAST_SMTP_PASSWORD_FILE": str(password_file)})


def test_the_file_variant_is_only_for_secrets(tmp_path: Path) -> None:
    batch_file = tmp_path / "batch"
    batch_file.write_text("7")
    settings = Settings.load(env={"PAPERCAST_INGEST_BATCH_SIZE_FILE": str(batch_file)})
    assert settings.ingest_batch_size == 5000


def test_smtp_password_is_redacted_and_security_must_be_a_known_mode() -> None:
    settings = Settings.load(env={"PAPERCAST_SMTP_PASSWORD": "hunter2", "PAPERCAST_SMTP_SECURITY": "tls"})
    assert settings.redacted()["PAPERCAST_SMTP_PASSWORD"] == "***"
    assert settings.smtp_security == "tls"
    with pytest.raises(InvalidInput, match="PAPERCAST_SMTP_SECURITY must be one of none, starttls, tls"):
        Settings.load(env={"PAPERCAST_SMTP_SECURITY": "ssl"})


def test_base_url_defaults_to_the_served_address_and_loses_its_trailing_slash() -> None:
    assert Settings.load(env={}).public_base_url == "http://127.0.0.1:8000"
    given = Settings.load(env={"PAPERCAST_BASE_URL": " https://papers.example.org/pc/ "})
    assert given.base_url == given.public_base_url == "https://papers.example.org/pc"


@pytest.mark.parametrize("value", ["ftp://papers.example.org", "papers.example.org", "https://",
                                   "https://papers.example.org/?feed=1", "https://papers.example.org/#top",
                                   "https://user:secret@papers.example.org", "https://papers.example.org:99999",
                                   "https://papers example.org"])
def test_a_base_url_links_cannot_be_built_from_is_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(InvalidInput, match=r"^PAPERCAST_BASE_URL must be .*\(got ") as raised:
        Settings.load(env={"PAPERCAST_BASE_URL": value})
    assert "\n" not in str(raised.value)


def test_followed_sources_and_holidays_are_checked_when_settings_load() -> None:
    settings = Settings.load(env={"PAPERCAST_HARVEST_FOLLOW": "oai:cs,hf-daily",
                                  "PAPERCAST_HARVEST_HOLIDAYS": "2026-11-26"})
    assert (settings.harvest_follow, settings.harvest_holidays) == ("oai:cs,hf-daily", "2026-11-26")
    for variable, value, message in (
            ("PAPERCAST_HARVEST_FOLLOW", "oai:cs,arxiv", "PAPERCAST_HARVEST_FOLLOW: 'arxiv' is not a source"),
            ("PAPERCAST_HARVEST_HOLIDAYS", "26.11.2026",
             "PAPERCAST_HARVEST_HOLIDAYS: '26.11.2026' is not a date"),
            ("PAPERCAST_HARVEST_FIRST_DAYS", "-1", "PAPERCAST_HARVEST_FIRST_DAYS must be at least 0, not -1"),
            ("PAPERCAST_HARVEST_DELAY_MINUTES", "-5", "PAPERCAST_HARVEST_DELAY_MINUTES must be at least 0")):
        with pytest.raises(InvalidInput) as raised:
            Settings.load(env={variable: value})
        assert str(raised.value).startswith(message) and "\n" not in str(raised.value)
