"""Records what `index.durable` asks of the operating system (fsync of a file or folder, rename),
so tests can check that files are written crash-safely, in that order."""

from __future__ import annotations

import os
from typing import Any

import pytest

from papercast.index import durable


def record_syncs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """("fsync", path) and ("rename", target) events, in order, from now on."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        real_fsync(descriptor)

    def replace(source: Any, target: Any) -> None:
        events.append(("rename", str(target)))
        real_replace(source, target)

    monkeypatch.setattr(durable.os, "fsync", fsync)
    monkeypatch.setattr(durable.os, "replace", replace)
    return events
