"""Bulk-work tuning: the garbage collector's threshold is raised inside and restored after."""

from __future__ import annotations

import gc
import weakref

import pytest

from papercast.runtime import fewer_gc_passes


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_fewer_gc_passes_raises_the_young_threshold_and_restores_it() -> None:
    before = gc.get_threshold()
    with fewer_gc_passes(54_321, collect_every=3) as between_batches:
        assert gc.get_threshold() == (54_321, *before[1:])
        gc.collect()
        # Garbage that only the cyclic collector can free.
        cycles = [weakref.ref(Cycle()) for _ in range(1000)]
        assert all(ref() is not None for ref in cycles)
        between_batches()
        between_batches()
        assert all(ref() is not None for ref in cycles)  # not yet: every third batch
        between_batches()
        assert all(ref() is None for ref in cycles)
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), fewer_gc_passes(12_345):
        raise RuntimeError("bulk work failed")
    assert gc.get_threshold() == before
