"""Produce the next items in a background thread while the caller works on the current one.

Ingest maps a batch in Python while DuckDB, which releases the GIL while it executes, stores
the previous one: the two overlap on two cores instead of taking turns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

_POLL_SECONDS = 0.1


class _End:
    """Marks the end of the producer's items."""


def read_ahead(produce: Callable[[], Iterator[T]], depth: int = 1,
               name: str = "read-ahead") -> Generator[T, None, None]:
    """Yield the items of `produce()`, in order, computed up to `depth` items ahead.

    `produce` is called in the background thread, so a generator's body (its connections,
    files and clients) lives there from start to end. An exception it raises is raised here
    after the items it produced before. When the caller stops early (an error, `close`), the
    producer stops before its next item and its iterator is closed in its own thread.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    slots: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[bool, object]) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        iterator: Iterator[T] | None = None
        try:
            iterator = produce()
            for item in iterator:
                if not put((True, item)):
                    return
            put((True, _End()))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((False, exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    try:
        while True:
            ok, item = slots.get()
            if not ok:
                assert isinstance(item, BaseException)
                raise item
            if isinstance(item, _End):
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
