"""A paged HTTP JSON API read with a since-cursor.

Contract: `GET url?since=<cursor>&page=<n>&page_size=<k>` returns `{"items": [...]}` with items
whose `updated_at` is at or after `since`, ordered by it. Paging stops at a short or empty page.
`since` is inclusive, so items sharing the cursor's timestamp are read again and deduplicated by
the store's upsert rather than lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from mining.sources.base import RawRow, SourceBatch, SourceError, SourceState
from mining.sources.config import HttpSourceConfig

RETRY_STATUS = {429, 500, 502, 503, 504}


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _items(response: httpx.Response, items_field: str) -> list[Any] | None:
    """The page's item list, or None when the body is not JSON holding a list there."""
    try:
        body = response.json()
    except ValueError:
        return None
    items = body.get(items_field) if isinstance(body, dict) else None
    return items if isinstance(items, list) else None


def get_with_retries(client: httpx.Client, url: str, params: dict[str, Any], retries: int,
                     sleep: Callable[[float], None] = time.sleep, *,
                     items_field: str | None = None,
                     max_retry_after: float = 60.0) -> httpx.Response:
    """GET with exponential backoff on connection errors and retryable status codes.

    A Retry-After header (429, 503) is honoured up to `max_retry_after` seconds; a server that
    asks for longer fails the read now rather than holding the run. With `items_field`, a 200
    whose body is not JSON with a list there (a truncated or proxy-mangled page) is retried too.
    """
    delay = 0.5
    for attempt in range(retries + 1):
        wait = delay
        try:
            response = client.get(url, params=params)
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code in RETRY_STATUS:
                problem = f"status {response.status_code}"
                asked = retry_after_seconds(response.headers.get("Retry-After"))
                if asked is not None:
                    if asked > max_retry_after:
                        raise SourceError(
                            f"GET {url} answered {response.status_code} with Retry-After "
                            f"{asked:.0f} s, more than the {max_retry_after:.0f} s allowed "
                            "(max_retry_after_seconds)")
                    wait = max(delay, asked)
            elif response.is_error:
                raise SourceError(f"GET {url} answered {response.status_code}")
            elif items_field is not None and _items(response, items_field) is None:
                problem = f"the body is not JSON with a list under {items_field!r}"
            else:
                return response
        if attempt < retries:
            sleep(wait)
            delay *= 2
    raise SourceError(f"GET {url} failed after {retries + 1} attempts: {problem}")


class HttpSource:
    def __init__(self, config: HttpSourceConfig, client: httpx.Client | None = None) -> None:
        self.config = config
        self.name = config.name
        self._client = client

    def read(self, state: SourceState) -> Iterator[SourceBatch]:
        cfg = self.config
        client = self._client or httpx.Client(timeout=cfg.timeout_seconds, headers=cfg.headers)
        since = state.get("cursor")
        newest = since
        ordinal = 0
        try:
            page = 1
            while True:
                params: dict[str, Any] = {cfg.page_param: page, cfg.page_size_param: cfg.page_size}
                if since:
                    params[cfg.since_param] = since
                try:
                    response = get_with_retries(client, cfg.url, params, cfg.retries,
                                                items_field=cfg.items_field,
                                                max_retry_after=cfg.max_retry_after_seconds)
                except SourceError as exc:
                    raise SourceError(f"page {page}: {exc}") from exc
                items = _items(response, cfg.items_field)
                assert items is not None  # get_with_retries returns only pages with a list
                rows = []
                for item in items:
                    ordinal += 1
                    location = f"{cfg.url} page {page}"
                    if not isinstance(item, dict):
                        rows.append(RawRow(location, ordinal, None, "malformed_row",
                                           "item is not a JSON object", repr(item)))
                        continue
                    rows.append(RawRow(location, ordinal, item))
                    stamp = item.get(cfg.cursor_field)
                    if stamp is not None and (newest is None or str(stamp) > newest):
                        newest = str(stamp)
                last = len(items) < cfg.page_size
                # The cursor moves only with the last page: a killed read restarts from the
                # old cursor and the upsert drops what was already stored.
                yield SourceBatch(rows, {"cursor": newest} if last and newest else {})
                if last:
                    return
                page += 1
        finally:
            if self._client is None:
                client.close()
