"""Reading input files in bounded memory: transparent gzip, the first bytes for sniffing, whole
documents up to a size limit, and recorded HTTP responses."""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

from papercast.domain.errors import SourceError

T = TypeVar("T")
_GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
_WRAPPER_KEYS = frozenset({"url", "status_code", "body"})
# One record (a JSON line, an XML entry and what precedes it) is never near this size; a longer
# one is broken or hostile, and reading it whole would be the only thing to make memory grow.
MAX_RECORD_BYTES = 16 * 1024 * 1024
# Formats that are one document (a recorded HTTP response, a Hugging Face daily-papers array)
# are read whole: far over any real response (arXiv's biggest pages are a few MB), so refused.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Payload:
    """A file's bytes; for a recorded HTTP response, the body's bytes with its URL and status."""

    data: bytes
    url: str | None = None
    status_code: int | None = None


def open_binary(path: Path) -> BinaryIO:
    """The file opened for reading bytes, decompressing it on the fly when it is gzip.

    The file is opened once (a pipe can be read only once): its first bytes are peeked at.
    """
    stream = _opened(path, "rb")
    try:
        magic = stream.peek(2)[:2]  # type: ignore[attr-defined]  # a BufferedReader
    except OSError as exc:
        stream.close()
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}", code="unreadable") from exc
    if magic != _GZIP_MAGIC:
        return stream
    decompressed = gzip.GzipFile(fileobj=stream, mode="rb")
    # A GzipFile closes the file it opened itself (`myfileobj`), not one it was given: hand it over.
    decompressed.myfileobj = stream  # type: ignore[assignment]  # any binary file will do
    return decompressed  # type: ignore[return-value]


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn what reading `path` can raise (a damaged gzip stream, an I/O error) into a `SourceError`."""
    try:
        yield
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise damaged_gzip(path, exc) from exc
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}", code="unreadable") from exc


def read_document(path: Path) -> bytes:
    """The whole (decompressed) content of a one-document file, refused over `MAX_DOCUMENT_BYTES`."""
    with reading(path), open_binary(path) as stream:
        return bounded_document(stream, path)


def bounded_document(stream: BinaryIO, path: Path) -> bytes:
    """The rest of `stream`, read no further than `MAX_DOCUMENT_BYTES` (then `SourceError`)."""
    data = stream.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise SourceError(f"{path} is over {MAX_DOCUMENT_BYTES} bytes (MAX_DOCUMENT_BYTES), the most read "
                          "whole for a recorded response or a daily-papers file", code="too-large")
    return data


def read_head(path: Path, size: int = 65_536) -> bytes:
    """The first `size` (decompressed) bytes of a file, for sniffing its format."""
    with reading(path), open_binary(path) as stream:
        return stream.read(size)


def damaged_gzip(path: Path, exc: Exception) -> SourceError:
    """The error for a gzip file that ends early or is corrupt."""
    detail = str(exc) or type(exc).__name__
    return SourceError(f"{path}: damaged or truncated gzip file ({detail})", code="unreadable")


def without_bom(data: bytes) -> bytes:
    """`data` without a leading UTF-8 byte order mark (some editors write one)."""
    return data[len(UTF8_BOM):] if data.startswith(UTF8_BOM) else data


def looks_recorded(head: bytes) -> bool:
    """Whether a file starting with `head` may be a recorded response (a JSON object)."""
    return without_bom(head).lstrip()[:1] == b"{"


def read_payload(path: Path) -> Payload:
    """A one-document file's bytes, unwrapping a recorded HTTP response `{"url", "status_code", "body"}`."""
    data = read_document(path)
    return recorded_response(data) or Payload(data)


def recorded_response(data: bytes) -> Payload | None:
    """The response recorded in `data`, or None when `data` is not a recorded response.

    The recorder stored the raw body bytes decoded as latin-1, so encoding it back gives the bytes.
    """
    if not looks_recorded(data):
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
        # Stored as decoded text rather than latin-1 bytes; a lone surrogate makes the XML fail to
        # parse, as it should, instead of failing to encode here.
        raw = body.encode("utf-8", "surrogatepass")
    status = value["status_code"]
    return Payload(raw, url=str(value["url"]), status_code=status if isinstance(status, int) else None)


def _opened(path: Path, mode: str) -> BinaryIO:
    try:
        return open(path, mode)  # type: ignore[return-value]  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}", code="unreadable") from exc


def parse_file(path: Path, parse: Callable[[bytes, str], T]) -> T:
    """Read a one-document file (unwrapping a recorded response) and run `parse(data, origin)` on it.

    A `SourceError` comes back naming the file and, for a recorded response, the HTTP status;
    a recorded HTTP failure whose body parsed anyway is still an error.
    """
    return parse_payload(read_payload(path), path, parse)


def parse_payload(payload: Payload, path: Path, parse: Callable[[bytes, str], T]) -> T:
    """`parse(payload.data, origin)`, its errors naming `path` (see `parse_file`)."""
    status = payload.status_code
    try:
        result = parse(payload.data, str(path))
    except SourceError as exc:
        error = naming_file(exc, path)
        if status is not None and status >= 400:
            error = SourceError(f"{error} (HTTP {status})", code=exc.code)
        if error is exc:
            raise
        raise error from exc
    if status is not None and status >= 400:
        raise SourceError(f"{path}: recorded response is HTTP {status} from {payload.url}", code="http-error")
    return result


def naming_file(error: SourceError, path: Path) -> SourceError:
    """`error`, its message prefixed with `path` unless it names the file already."""
    if str(path) in str(error):
        return error
    return SourceError(f"{path}: {error}", code=error.code, body=error.body)


class PrefixedStream(io.RawIOBase):
    """`head` (bytes already read from `rest`) followed by the rest of the stream."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (all that is left when negative), as a file's `read` gives them."""
        if size is None or size < 0:
            head, self._head = self._head, b""
            return head + self._rest.read()
        head, self._head = self._head[:size], self._head[size:]
        return head if len(head) == size else head + self._rest.read(size - len(head))

    def close(self) -> None:
        self._rest.close()
        super().close()
