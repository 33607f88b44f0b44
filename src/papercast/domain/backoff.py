"""Exponential backoff with jitter: how long to wait after the n-th failure of something retried."""

from __future__ import annotations


def backoff_seconds(failures: int, initial: float, maximum: float, jitter: float,
                    factor: float = 2.0) -> float:
    """`initial` multiplied by `factor` (doubled by default) for each failure after the first,
    capped at `maximum`, then scaled by 0.5 + `jitter` / 2 (`jitter` from a random source in
    [0, 1)), so that retries of many clients that failed together spread out instead of arriving
    together again. Jobs, HTTP requests and mail (factor 3) all wait this way."""
    if failures < 1:
        raise ValueError(f"failures must be at least 1, not {failures}")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter must be within [0, 1], not {jitter}")
    if factor < 1.0:
        raise ValueError(f"a backoff factor must be at least 1, not {factor}")
    # Past 60 steps the cap always wins (2**60, 3**60): stopping there keeps the float finite.
    delay = min(maximum, initial * factor ** min(failures - 1, 60))
    return delay * (0.5 + jitter / 2)
