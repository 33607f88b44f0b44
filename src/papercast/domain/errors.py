"""Domain exceptions, mapped to CLI messages and HTTP problems at the edges."""

from __future__ import annotations

from functools import partial
from typing import Any


class PapercastError(Exception):
    """Base of every error papercast reports to a user as a message, not a stack trace."""


class InvalidInput(PapercastError):
    """Input that breaks a rule; `field` names what was wrong, `location` where (line, element)."""

    def __init__(self, message: str, *, field: str | None = None, location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.location = location

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields survive pickling (ingest's read-ahead process raises them here).
        return partial(type(self), field=self.field, location=self.location), (self.message,)

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        what = f"{self.field}: " if self.field and not self.message.startswith(self.field) else ""
        return f"{where}{what}{self.message}"


class NotFound(PapercastError):
    """The thing asked for does not exist."""


class Conflict(PapercastError):
    """The request contradicts what is stored."""


class NotSignedIn(PapercastError):
    """The request needs a signed-in reader (a session or an API token) and has none."""


class NotAllowed(PapercastError):
    """The reader is known but may not do this (a read-only token writing, a disabled account)."""


class SourceError(PapercastError):
    """A source answered with an error (an arXiv error entry, an OAI-PMH error code, HTTP failure)."""

    def __init__(self, message: str, *, code: str | None = None, body: bytes | None = None) -> None:
        super().__init__(message)
        self.code = code
        # The response body, when an HTTP error carries one worth parsing (arXiv's error feeds).
        self.body = body

    def __reduce__(self) -> tuple[Any, ...]:
        return partial(type(self), code=self.code, body=self.body), self.args


class IndexUnavailable(PapercastError):
    """A search index cannot answer now (damaged, being rebuilt); the message says why."""


class SchemaOutOfDate(PapercastError):
    """The database schema is older than this code; the message says what to run."""


class DatabaseUnavailable(PapercastError):
    """The configured database cannot be opened or reached; the message says what to check."""


class TooManyRequests(PapercastError):
    """A rate limit refused the request; `retry_after` is how many seconds until it would not."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
