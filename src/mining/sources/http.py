"""A paged HTTP JSON API read with a since-cursor.

Contract: `GET url?since=<cursor>&page=<n>&page_size=<k>` returns `{"items": [...]}` with items
whose `updated_at` is at or after `since`, ordered by it. Paging stops at a short or empty page.
`since` is inclusive, so items sharing the cursor's timestamp are read again and deduplicated by
the store's upsert rather than lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from mining.sources.base import RawRow, SourceBatch, SourceError, SourceState
from mining.sources.config import HttpSourceConfig

RETRY_STATUS = {429, 500, 502, 503, 504}


def get_with_retries(client: httpx.Client, url: str, params: dict[str, Any], retries: int,
                     sleep: Callable[[float], None] = time.sleep) -> httpx.Response:
    """GET with exponential backoff on connection errors and retryable status codes."""
    delay = 0.5
    for attempt in range(retries + 1):
        try:
            response = client.get(url, params=params)
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code not in RETRY_STATUS:
                if response.is_error:
                    raise SourceError(f"GET {url} answered {response.status_code}")
                return response
            problem = f"status {response.status_code}"
        if attempt < retries:
            sleep(delay)
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
                response = get_with_retries(client, cfg.url, params, cfg.retries)
                try:
                    body = response.json()
                    items = body[cfg.items_field]
                except (ValueError, KeyError, TypeError) as exc:
                    raise SourceError(
                        f"GET {cfg.url} page {page}: no JSON list under {cfg.items_field!r}"
                    ) from exc
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
