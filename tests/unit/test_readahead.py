"""The read-ahead thread that overlaps ingest's mapping with the store."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from mining.readahead import read_ahead


def test_items_come_in_order_and_are_produced_in_another_thread() -> None:
    threads: list[str] = []

    def produce() -> Iterator[int]:
        for i in range(50):
            threads.append(threading.current_thread().name)
            yield i

    assert list(read_ahead(produce, name="producer")) == list(range(50))
    assert set(threads) == {"producer"}


def test_a_producer_error_arrives_after_the_items_before_it() -> None:
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for item in read_ahead(produce):
            got.append(item)
    assert got == [1, 2]


def test_the_next_item_is_produced_while_the_caller_works() -> None:
    second_ready = threading.Event()

    def produce() -> Iterator[int]:
        yield 0
        second_ready.set()
        yield 1

    seen_while_working = []
    for item in read_ahead(produce):
        if item == 0:  # the caller still holds item 0: the producer must not wait for it
            seen_while_working.append(second_ready.wait(timeout=10))
    assert seen_while_working == [True]


def test_stopping_early_stops_and_closes_the_producer_in_its_thread() -> None:
    closed_in: list[str] = []
    produced: list[int] = []

    def produce() -> Iterator[int]:
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            closed_in.append(threading.current_thread().name)

    items = read_ahead(produce, depth=2, name="producer")
    with pytest.raises(RuntimeError):
        for item in items:
            if item == 3:
                raise RuntimeError("store failed")
    items.close()
    assert closed_in == ["producer"]
    assert len(produced) <= 3 + 1 + 2 + 1  # the item in hand, the queue and one more at most
    assert not any(t.name == "producer" for t in threading.enumerate())


def test_depth_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="depth"):
        next(read_ahead(lambda: iter([1]), depth=0))
