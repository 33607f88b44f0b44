"""Reading input files: transparent gzip, the first bytes for sniffing, recorded HTTP responses."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

from papercast.domain.errors import SourceError

T = TypeVar("T")
_GZIP_MAGIC = b"\x1f\x8b"
_WRAPPER_KEYS = frozenset({"url", "status_code", "body"})


@dataclass(frozen=True)
class Payload:
    """A file's bytes; for a recorded HTTP response, the body's bytes with its URL and status."""

    data: bytes
    url: str | None = None
    status_code: int | None = None


def is_gzip(path: Path) -> bool:
    with _opened(path, "rb") as stream:
        return stream.read(2) == _GZIP_MAGIC


def open_binary(path: Path) -> BinaryIO:
    """The file opened for reading bytes, decompressing it on the fly when it is gzip."""
    if is_gzip(path):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return _opened(path, "rb")


def read_bytes(path: Path) -> bytes:
    """The whole (decompressed) content of a file."""
    return _read(path, -1)


def read_head(path: Path, size: int = 65_536) -> bytes:
    """The first `size` (decompressed) bytes of a file, for sniffing its format."""
    return _read(path, size)


def _read(path: Path, size: int) -> bytes:
    try:
        with open_binary(path) as stream:
            return stream.read(size)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise damaged_gzip(path, exc) from exc
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}", code="unreadable") from exc


def damaged_gzip(path: Path, exc: Exception) -> SourceError:
    """The error for a gzip file that ends early or is corrupt."""
    detail = str(exc) or type(exc).__name__
    return SourceError(f"{path}: damaged or truncated gzip file ({detail})", code="unreadable")


def read_payload(path: Path) -> Payload:
    """A file's bytes, unwrapping a recorded HTTP response `{"url", "status_code", "body"}`."""
    data = read_bytes(path)
    return recorded_response(data) or Payload(data)


def recorded_response(data: bytes) -> Payload | None:
    """The response recorded in `data`, or None when `data` is not a recorded response.

    The recorder stored the raw body bytes decoded as latin-1, so encoding it back gives the bytes.
    """
    if data.lstrip()[:1] != b"{":
        return None
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not (isinstance(value, dict) and value.keys() >= _WRAPPER_KEYS and isinstance(value["body"], str)):
        return None
    body: str = value["body"]
    try:
        raw = body.encode("latin-1")
    except UnicodeEncodeError:
        raw = body.encode("utf-8")  # stored as decoded text rather than latin-1 bytes
    status = value["status_code"]
    return Payload(raw, url=str(value["url"]), status_code=status if isinstance(status, int) else None)


def _opened(path: Path, mode: str) -> BinaryIO:
    try:
        return open(path, mode)  # type: ignore[return-value]  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}", code="unreadable") from exc


def parse_file(path: Path, parse: Callable[[bytes, str], T]) -> T:
    """Read `path` (unwrapping a recorded response) and run `parse(data, origin)` on its bytes.

    A `SourceError` comes back naming the file and, for a recorded response, the HTTP status;
    a recorded HTTP failure whose body parsed anyway is still an error.
    """
    payload = read_payload(path)
    status = payload.status_code
    try:
        result = parse(payload.data, str(path))
    except SourceError as exc:
        message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
        if status is not None and status >= 400:
            message = f"{message} (HTTP {status})"
        raise SourceError(message, code=exc.code) from exc
    if status is not None and status >= 400:
        raise SourceError(f"{path}: recorded response is HTTP {status} from {payload.url}", code="http-error")
    return result
