"""One pipeline run per database at a time: an exclusive advisory lock next to the file.

`flock` is released by the kernel when the holder dies (kill -9 included), so a crashed run
never blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RunInProgress(RuntimeError):
    """Another run (or command) holds the database; `holder` says which."""

    def __init__(self, message: str, db_path: Path | None = None, holder: str = "unknown"
                 ) -> None:
        super().__init__(message)
        self.db_path = db_path
        self.holder = holder


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


@contextmanager
def exclusive_run(db_path: Path, holder: str) -> Iterator[None]:
    """Hold the database's run lock, or raise RunInProgress naming the current holder."""
    path = lock_path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            current = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            raise RunInProgress(
                f"another run is using {db_path} ({current}); this run is skipped",
                db_path, current) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder} pid {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)
