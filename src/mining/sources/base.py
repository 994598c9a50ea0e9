"""What every source yields: raw rows in batches, each batch with the state to commit with it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

SourceState = Mapping[str, str | None]


@dataclass(frozen=True)
class RawRow:
    """One row as read. `error` is set when the row could not even be parsed."""

    location: str
    line: int | None
    data: dict[str, Any] | None
    error: str | None = None
    detail: str | None = None
    raw_text: str | None = None


@dataclass
class SourceBatch:
    """Rows plus the source-state entries to commit in the same transaction."""

    rows: list[RawRow]
    state: dict[str, str | None] = field(default_factory=dict)


class SourceError(RuntimeError):
    """A source could not be read at all (server down after retries, bad credentials...)."""


class Source(Protocol):
    """A connector. `read` yields only what is new since `state`."""

    name: str

    def read(self, state: SourceState) -> Iterator[SourceBatch]: ...
