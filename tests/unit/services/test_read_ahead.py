"""read_ahead: the ingest's reader thread keeps order, hands errors over, and stops with its consumer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from papercast.services.ingest import read_ahead


def test_items_arrive_in_order_and_are_produced_in_another_thread() -> None:
    threads: set[str] = set()

    def produce() -> Iterator[int]:
        for number in range(50):
            threads.add(threading.current_thread().name)
            yield number

    assert list(read_ahead(produce())) == list(range(50))
    assert threads == {"papercast-ingest-reader"}


def test_an_error_is_raised_after_the_items_before_it() -> None:
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("line 3 is not JSON")

    received = []
    with pytest.raises(ValueError, match="line 3 is not JSON"):
        for item in read_ahead(produce()):
            received.append(item)
    assert received == [1, 2]


def test_the_reader_stops_soon_after_its_consumer() -> None:
    produced = []

    def produce() -> Iterator[int]:
        for number in range(1_000_000):
            produced.append(number)
            yield number

    for item in read_ahead(produce(), depth=2):
        if item == 3:
            break
    settled = len(produced)
    time.sleep(0.3)
    assert len(produced) == settled <= 8  # it was at most a few items ahead, and it stopped
