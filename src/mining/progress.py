"""Progress for long steps: a rich bar on a terminal, periodic log lines elsewhere."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

log = logging.getLogger("mining")

Advance = Callable[[int], None]


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[Advance]:
    """Yield `advance(n)`; draws a bar when stderr is a terminal, else logs every ~10%."""
    if total <= 0:
        yield lambda n: None
        return
    if sys.stderr.isatty():
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), transient=False) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)
        return
    done = 0
    step = max(1, total // 10)
    next_report = step

    def advance(n: int) -> None:
        nonlocal done, next_report
        done += n
        if done >= next_report or done == total:
            log.info("%s: %d/%d", description, done, total)
            next_report = done + step

    yield advance
