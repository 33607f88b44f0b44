"""Crash-safe index files: write a temporary file, fsync it, rename it into place, fsync the folder.

After a crash a reader finds either the old file or the new one, whole, never a torn mix; each
write reports the bytes it wrote and their CRC-32, which a manifest records so that damage (a
truncated, zeroed or edited file) is found when the file is read back.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

TEMPORARY_SUFFIX = ".tmp"
_CHUNK = 1 << 24  # CRC-32 is computed 16 MiB at a time, so checking a big file needs little memory


class DamagedFiles(ValueError):
    """Index files that cannot be read as written: the message names the file and what is wrong."""


@dataclass(frozen=True)
class WrittenFile:
    """What a crash-safe write put on disk: the file's name, size and CRC-32."""

    name: str
    size: int
    crc32: int

    def as_dict(self) -> dict[str, int]:
        return {"bytes": self.size, "crc32": self.crc32}


class _ChecksummingWriter:
    """A binary file wrapper that counts and checksums what passes through it (for `np.save`)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.size = 0
        self.crc32 = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.crc32 = zlib.crc32(view, self.crc32)
        self.size += len(view)
        return self._handle.write(view)


def write_file(path: Path, produce: Callable[[Any], None]) -> WrittenFile:
    """Write `path` crash-safely; `produce` writes the content to the binary file-like it is given."""
    temporary = path.with_name(path.name + TEMPORARY_SUFFIX)
    try:
        with open(temporary, "wb") as handle:
            writer = _ChecksummingWriter(handle)
            produce(writer)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
    return WrittenFile(path.name, writer.size, writer.crc32)


def write_bytes(path: Path, data: bytes) -> WrittenFile:
    return write_file(path, lambda handle: handle.write(data))


def write_json(path: Path, value: Any) -> WrittenFile:
    return write_bytes(path, json.dumps(value, ensure_ascii=False).encode("utf-8"))


def write_array(path: Path, array: np.ndarray) -> WrittenFile:
    """An `.npy` file (memory-mappable when read back)."""
    return write_file(path, lambda handle: np.save(handle, np.ascontiguousarray(array), allow_pickle=False))


def write_array_parts(path: Path, parts: Sequence[np.ndarray], dimension: int) -> WrittenFile:
    """One float32 `.npy` of `parts` stacked (rows of `dimension`), streamed part by part, so
    memory-mapped parts are never copied whole into memory."""
    rows = sum(len(part) for part in parts)

    def produce(handle: Any) -> None:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                  "shape": (rows, dimension)}
        np.lib.format.write_array_header_1_0(handle, header)
        for part in parts:
            handle.write(np.ascontiguousarray(part, dtype=np.float32))

    return write_file(path, produce)


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in `directory` survive a crash (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except (OSError, AttributeError):
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def file_crc32(path: Path) -> int:
    """The CRC-32 of a whole file (zlib's, the one `write_file` records and tantivy's footers use)."""
    crc = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def remove_temporaries(directory: Path) -> None:
    """Drop what an interrupted write left behind (only the one writer of a folder may call this)."""
    for path in directory.glob(f"*{TEMPORARY_SUFFIX}"):
        path.unlink(missing_ok=True)
