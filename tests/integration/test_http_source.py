"""The HTTP source against a real server on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from mining.sources import HttpSource, SourceError
from mining.sources.config import HttpSourceConfig
from tests.support.http_api import FeedbackApi, serve

MAPPING = {"text": "body", "created_at": "created", "site": "site", "external_id": "id"}


def make_items(n: int, start: int = 0) -> list[dict[str, object]]:
    return [{"id": f"r{i}", "body": f"review number {i}", "site": "Leeds",
             "created": f"2026-01-{1 + i % 28:02d}T10:00:00",
             "updated_at": f"2026-02-01T00:{i // 60:02d}:{i % 60:02d}"}
            for i in range(start, start + n)]


def config(url: str, page_size: int = 10) -> HttpSourceConfig:
    return HttpSourceConfig(name="api", kind="feedback", url=url, page_size=page_size,
                            mapping=MAPPING, retries=2)


def read_all(source: HttpSource, state: dict[str, str | None]) -> tuple[list[str], dict]:
    ids: list[str] = []
    for batch in source.read(state):
        ids += [row.data["id"] for row in batch.rows if row.data]
        state.update(batch.state)
    return ids, state


def test_pages_through_everything_then_reads_only_new_items() -> None:
    api = FeedbackApi(make_items(25))
    with serve(api) as url:
        source = HttpSource(config(url))
        ids, state = read_all(source, {})
        assert sorted(ids) == sorted(f"r{i}" for i in range(25))
        assert [r["page"] for r in api.requests] == ["1", "2", "3"]
        assert state["cursor"] == max(i["updated_at"] for i in api.items)

        api.items += make_items(5, start=25)
        again, state = read_all(source, state)
    # Inclusive cursor: the newest old item comes back once more, plus the five new ones.
    assert set(again) == {"r24"} | {f"r{i}" for i in range(25, 30)}
    assert api.requests[-1]["since"] == "2026-02-01T00:00:24"


def test_retries_a_server_error_then_succeeds() -> None:
    api = FeedbackApi(make_items(3))
    api.fail_next = 2
    with serve(api) as url:
        ids, _ = read_all(HttpSource(config(url)), {})
    assert len(ids) == 3
    assert len(api.requests) == 3


def test_server_down_raises_source_error_without_moving_the_cursor() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    state: dict[str, str | None] = {}
    with pytest.raises(SourceError, match="failed after 3 attempts"):
        read_all(HttpSource(config(f"http://127.0.0.1:{port}/feedback")), state)
    assert state == {}


def test_non_object_items_are_rows_with_an_error() -> None:
    api = FeedbackApi([])
    with serve(api) as url:
        api.page = lambda query: (200, {"items": ["oops", {"id": "x", "updated_at": "1"}]})  # type: ignore[method-assign]
        rows = [row for batch in HttpSource(config(url)).read({}) for row in batch.rows]
    assert rows[0].error == "malformed_row"
    assert rows[1].data == {"id": "x", "updated_at": "1"}


def test_ingest_from_the_api_stores_rows_and_is_incremental() -> None:
    from mining.pipeline import ingest_source
    from mining.store.db import Store

    items = make_items(12)
    items[3]["body"] = "call me on 555-123-4567"
    items[5]["created"] = "not a date"
    api = FeedbackApi(items)
    store = Store.in_memory()
    with serve(api) as url:
        cfg = config(url, page_size=5)
        first = ingest_source(store, HttpSource(cfg), cfg, "r1", known_sites=None,
                              max_text_chars=1000)
        assert (first.rows_read, first.feedback_added, first.quarantined) == (12, 11, 1)
        assert store.source_state("api")["cursor"] == items[-1]["updated_at"]
        texts = [t for (t,) in store.execute("SELECT text FROM feedback").fetchall()]
        assert "call me on [PHONE]" in texts
        reason = store.execute("SELECT reason, location FROM quarantine").fetchone()
        assert reason[0] == "unparseable_date" and reason[1].startswith(url)
        again = ingest_source(store, HttpSource(cfg), cfg, "r2", known_sites=None,
                              max_text_chars=1000)
    # Only the item at the cursor comes back, and the upsert keeps it once.
    assert (again.rows_read, again.feedback_added, again.duplicates) == (1, 0, 1)
    assert store.count("feedback") == 11
