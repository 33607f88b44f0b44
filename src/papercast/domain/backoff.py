"""Exponential backoff with jitter: how long to wait after the n-th failure of something retried."""

from __future__ import annotations


def backoff_seconds(failures: int, initial: float, maximum: float, jitter: float) -> float:
    """`initial` doubled for each failure after the first, capped at `maximum`, then scaled by
    0.5 + `jitter` / 2 (`jitter` from a random source in [0, 1)), so that retries of many
    clients that failed together spread out instead of arriving together again."""
    if failures < 1:
        raise ValueError(f"failures must be at least 1, not {failures}")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter must be within [0, 1], not {jitter}")
    # Past 2**60 the cap always wins; stopping there keeps the float finite.
    delay = min(maximum, initial * 2.0 ** min(failures - 1, 60))
    return delay * (0.5 + jitter / 2)
