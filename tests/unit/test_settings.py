"""Settings: parsing, redaction, and the generated configuration document staying true."""

from __future__ import annotations

from pathlib import Path

import pytest

from papercast.domain.errors import InvalidInput
from papercast.settings import SETTINGS, Settings, configuration_markdown
from papercast.storage.engine import SUPPORTED_DATABASE_URLS

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


@pytest.mark.parametrize(("variable", "value", "allowed"), [
    ("PAPERCAST_INGEST_BATCH_SIZE", "0", "at least 1"),
    ("PAPERCAST_INGEST_BATCH_SIZE", "-5", "at least 1"),
    ("PAPERCAST_INGEST_BATCH_SIZE", "2.5", "a whole number"),
    ("PAPERCAST_INGEST_READ_AHEAD_MB", "-1", "at least 0"),
    ("PAPERCAST_HARVEST_MAX_ATTEMPTS", "0", "at least 1"),
    ("PAPERCAST_HARVEST_TIMEOUT", "0", "at least 0.1"),
    ("PAPERCAST_HARVEST_TIMEOUT", "nan", "a finite number"),
    ("PAPERCAST_HARVEST_REQUEST_INTERVAL", "inf", "a finite number"),
    ("PAPERCAST_HARVEST_BACKOFF_MAX", "-1", "at least 0"),
    ("PAPERCAST_WEB_PAGE_SIZE", "500", "1 to 100"),
    ("PAPERCAST_WEB_FEED_SIZE", "0", "1 to 100"),
    ("PAPERCAST_WEB_RATE_LIMIT_BURST", "0", "at least 1"),
    ("PAPERCAST_LOG_LEVEL", "LOUD", "one of DEBUG, INFO, WARNING, ERROR"),
    ("PAPERCAST_EMBEDDING_MODEL", "bert", "one of minilm, tfidf, hashing"),
    ("PAPERCAST_EMBEDDING_RUNTIME", "tensorrt", "one of auto, torch, onnx"),
    ("PAPERCAST_EMBEDDING_DEVICE", "gpu", "auto, cpu, cuda or cuda:N"),
    ("PAPERCAST_OAI_BASE_URL", "ftp://mirror/oai", "an http:// or https:// URL"),
    ("PAPERCAST_HF_DAILY_URL", "huggingface.co/api", "an http:// or https:// URL"),
    ("PAPERCAST_USER_AGENT", "papercast\r\nX-Evil: 1", "printable ASCII text on one line"),
    ("PAPERCAST_WEB_FORWARDED_ALLOW_IPS", "10.0.0.0/8,proxy", "IP addresses or networks"),
])
def test_a_value_outside_its_range_or_choices_is_refused_naming_the_variable_and_what_it_allows(
        variable: str, value: str, allowed: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as refused:
        Settings.load(env={"PAPERCAST_DATA_DIR": str(tmp_path), variable: value})
    message = str(refused.value)
    assert message.startswith(f"{variable} must be")
    assert allowed in message
    assert "\n" not in message


def test_every_setting_declares_what_it_accepts() -> None:
    for spec in SETTINGS:
        assert spec.minimum is not None or spec.choices or spec.rule is not None, spec.name
        assert spec.checked(spec.default if spec.name != "data_dir" else Path("."), spec.env_var) is not None


def test_choices_are_matched_in_any_case_and_kept_in_their_canonical_spelling(tmp_path: Path) -> None:
    settings = Settings.load(env={"PAPERCAST_DATA_DIR": str(tmp_path), "PAPERCAST_LOG_LEVEL": "info",
                                  "PAPERCAST_EMBEDDING_MODEL": "Hashing"})
    assert (settings.log_level, settings.embedding_model) == ("INFO", "hashing")


def test_accepted_edge_values(tmp_path: Path) -> None:
    settings = Settings.load(env={
        "PAPERCAST_DATA_DIR": str(tmp_path), "PAPERCAST_INGEST_BATCH_SIZE": "1",
        "PAPERCAST_INGEST_READ_AHEAD_MB": "0", "PAPERCAST_WEB_PAGE_SIZE": "100",
        "PAPERCAST_EMBEDDING_DEVICE": "cuda:1",
        "PAPERCAST_WEB_FORWARDED_ALLOW_IPS": "127.0.0.1, ::1, 10.0.0.0/8",
        "PAPERCAST_DATABASE_URL": "postgresql://app:pw@db/papercast"})
    assert settings.ingest_batch_size == 1
    assert settings.web_page_size == 100


def test_toml_values_are_checked_and_named_by_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "papercast.toml"
    for line, allowed in (("ingest_batch_size = 0", "at least 1"),
                          ("ingest_batch_size = 2.5", "whole number"),
                          ("ingest_batch_size = true", "whole number"), ('log_level = "LOUD"', "one of")):
        config.write_text(f"[papercast]\n{line}\n")
        with pytest.raises(InvalidInput) as refused:
            Settings.load(env={"PAPERCAST_CONFIG": str(config), "PAPERCAST_DATA_DIR": str(tmp_path)})
        assert f"{config}:{line.split()[0]} must be" in str(refused.value)
        assert allowed in str(refused.value)


@pytest.mark.parametrize(("url", "problem"), [
    ("mysql://app:hunter2@db/papercast", "names 'mysql', which papercast does not support"),
    ("postgresql+asyncpg://app:hunter2@db/papercast", "does not support"),
    ("sqlite+aiosqlite:///papercast.db", "does not support"),
    ("not a url", "is not a database URL"),
    ("postgresql://app:hunter2@db:port/papercast", "is not a database URL"),
    ("sqlite://", "in-memory SQLite database"),
    ("sqlite:///:memory:", "in-memory SQLite database"),
    ("sqlite:///file::memory:?cache=shared&uri=true", "in-memory SQLite database"),
    ("sqlite:///file:scratch?mode=memory&uri=true", "in-memory SQLite database"),
])
def test_database_urls_papercast_cannot_keep_data_in_are_refused_with_the_supported_forms(
        url: str, problem: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as refused:
        Settings.load(env={"PAPERCAST_DATA_DIR": str(tmp_path), "PAPERCAST_DATABASE_URL": url})
    message = str(refused.value)
    assert message.startswith("PAPERCAST_DATABASE_URL ")
    assert problem in message
    assert "hunter2" not in message
    if "memory" not in problem:
        assert SUPPORTED_DATABASE_URLS in message


def test_a_data_directory_that_is_a_file_or_under_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("")
    for data_dir in (tmp_path / "var", tmp_path / "var" / "data"):
        with pytest.raises(InvalidInput, match="PAPERCAST_DATA_DIR names .* is a file, not a directory"):
            Settings.load(env={"PAPERCAST_DATA_DIR": str(data_dir)})
    creatable = tmp_path / "new" / "data"
    assert Settings.load(env={"PAPERCAST_DATA_DIR": str(creatable)}).data_dir == creatable


def test_the_configuration_doc_shows_what_each_setting_accepts() -> None:
    document = configuration_markdown()
    assert "| `PAPERCAST_INGEST_BATCH_SIZE` | int | `5000` | at least 1 |" in document
    assert "one of `DEBUG`, `INFO`, `WARNING`, `ERROR`" in document


def test_followed_sources_and_holidays_are_checked_when_settings_load() -> None:
    settings = Settings.load(env={"PAPERCAST_HARVEST_FOLLOW": "oai:cs,hf-daily",
                                  "PAPERCAST_HARVEST_HOLIDAYS": "2026-11-26"})
    assert (settings.harvest_follow, settings.harvest_holidays) == ("oai:cs,hf-daily", "2026-11-26")
    for variable, value, message in (
            ("PAPERCAST_HARVEST_FOLLOW", "oai:cs,arxiv",
             "PAPERCAST_HARVEST_FOLLOW is refused: 'arxiv' is not a source"),
            ("PAPERCAST_HARVEST_HOLIDAYS", "26.11.2026",
             "PAPERCAST_HARVEST_HOLIDAYS is refused: '26.11.2026' is not a date"),
            ("PAPERCAST_HARVEST_FIRST_DAYS", "-1", "PAPERCAST_HARVEST_FIRST_DAYS must be at least 0, not -1"),
            ("PAPERCAST_HARVEST_DELAY_MINUTES", "-5", "PAPERCAST_HARVEST_DELAY_MINUTES must be at least 0")):
        with pytest.raises(InvalidInput) as raised:
            Settings.load(env={variable: value})
        assert str(raised.value).startswith(message) and "\n" not in str(raised.value)
