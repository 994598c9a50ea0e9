"""Record updates and identity on real DuckDB files (issue 14).

A newer version of a stored record updates the declared fields and keeps the history; an edited
text is predicted again; the same export read again changes nothing; a record without an
external id is keyed by source, site, created_at and content hash; migration 006 rekeys a store
built with the old keys.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from mining.analysis.config import AnalysisConfig
from mining.analysis.refresh import refresh_analysis
from mining.normalise import content_hash
from mining.pipeline import IngestCounts, classify_pending, ingest_source, refresh_aggregates
from mining.records import RecordContext, Rejected, make_item_id, map_batch, map_row
from mining.sources import FolderSource, SourcesFile
from mining.sources.base import RawRow
from mining.sources.config import ColumnMapping, FolderSourceConfig
from mining.store.db import Store, utcnow
from mining.taxonomy import Taxonomy
from tests.unit.test_pipeline_steps import KeywordClassifier

REPO = Path(__file__).resolve().parents[2]
KEY = "test-key"
TICKET_COLUMNS = ["id", "text", "opened", "site", "status", "resolved", "category", "customer"]
REVIEW_COLUMNS = ["id", "text", "date", "site", "stars", "customer"]


def write(folder: Path, name: str, columns: list[str], rows: Sequence[Sequence[object]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)


def tickets(folder: Path, **extra: Any) -> FolderSourceConfig:
    mapping = {"text": "text", "created_at": "opened", "site": "site", "external_id": "id",
               "status": "status", "resolved_at": "resolved", "category": "category",
               "customer_id": "customer"} | extra.pop("mapping", {})
    return FolderSourceConfig(name="tickets", kind="complaint", path=folder, mapping=mapping,
                              require_text=False, **extra)


def reviews(folder: Path, name: str = "reviews", external_id: str | None = "id",
            **extra: Any) -> FolderSourceConfig:
    mapping: dict[str, Any] = {"text": "text", "created_at": "date", "site": "site",
                               "rating": "stars", "customer_id": "customer"}
    if external_id:
        mapping["external_id"] = external_id
    return FolderSourceConfig(name=name, kind="feedback", path=folder, mapping=mapping, **extra)


def ingest(store: Store, config: FolderSourceConfig, run_id: str = "run") -> IngestCounts:
    counts = ingest_source(store, FolderSource(config, batch_rows=3), config, run_id,
                           known_sites=None, max_text_chars=1000, pseudonym_key=KEY)
    assert counts.rows_read == (counts.feedback_added + counts.complaints_added
                                + counts.feedback_updated + counts.complaints_updated
                                + counts.quarantined + counts.duplicates)
    return counts


def rows(store: Store, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
    return store.fetch_arrow(sql, params).to_pylist()


def test_complaint_open_then_resolved_updates_the_row_and_keeps_its_history(
        tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.duckdb")
    folder = tmp_path / "crm"
    write(folder, "tickets.csv", TICKET_COLUMNS, [
        ("T1", "waited two hours at check-in", "2026-01-05 09:00", "Leeds", "open", "",
         "Late Flight", "c1"),
        ("T2", "", "2026-01-05 10:00", "York", "open", "", "Lost Luggage", ""),
    ])
    first = ingest(store, tickets(folder), "r1")
    assert (first.complaints_added, first.complaints_updated) == (2, 0)
    # The CRM exports the same file again: T1 is resolved, T2 unchanged.
    write(folder, "tickets.csv", TICKET_COLUMNS, [
        ("T1", "waited two hours at check-in", "2026-01-05 09:00", "Leeds", "resolved",
         "2026-01-05 15:00", "Late Flight", "c1"),
        ("T2", "", "2026-01-05 10:00", "York", "open", "", "Lost Luggage", ""),
    ])
    second = ingest(store, tickets(folder), "r2")
    assert (second.rows_read, second.complaints_added, second.complaints_updated,
            second.duplicates) == (2, 0, 1, 1)
    stored = rows(store, "SELECT external_id, status, resolved_at, version, run_id, changed_at "
                         "FROM complaints ORDER BY external_id")
    assert [(r["external_id"], r["status"], r["resolved_at"], r["version"]) for r in stored] == [
        ("T1", "resolved", datetime(2026, 1, 5, 15), 2), ("T2", "open", None, 1)]
    assert stored[0]["run_id"] == "r1" and stored[0]["changed_at"] is not None
    history = rows(store, "SELECT h.version, h.status, h.resolved_at, h.changed_fields, "
                          "h.run_id, h.valid_from, h.valid_to FROM complaints_history h "
                          "JOIN complaints c USING (item_id) WHERE c.external_id = 'T1' "
                          "ORDER BY h.version")
    assert [(h["version"], h["status"], h["resolved_at"], h["changed_fields"], h["run_id"])
            for h in history] == [
        (1, "open", None, [], "r1"),
        (2, "resolved", datetime(2026, 1, 5, 15), ["status", "resolved_at"], "r2")]
    assert history[0]["valid_to"] == history[1]["valid_from"] and history[1]["valid_to"] is None
    assert store.count("complaints_history") == 3
    store.close()


def test_resolving_a_complaint_clears_its_sla_breach_and_changes_outcome_and_risk(
        tmp_path: Path) -> None:
    taxonomy = Taxonomy.load(REPO / "config" / "taxonomy.yaml")
    config = AnalysisConfig.load(REPO / "config" / "analysis.yaml")
    store = Store.open(tmp_path / "s.duckdb")
    crm, web = tmp_path / "crm", tmp_path / "web"
    write(web, "reviews.csv", REVIEW_COLUMNS, [
        ("R1", "waited two hours at the desk", "2026-01-05 08:00", "Leeds", "1", "c1")])
    ticket = ["T1", "waited two hours at check-in", "2026-01-05 09:00", "Leeds", "open", "",
              "Late Flight", "c1"]
    write(crm, "tickets.csv", TICKET_COLUMNS, [ticket])

    def figures() -> tuple[Any, ...]:
        ingest(store, reviews(web))
        ingest(store, tickets(crm))
        classify_pending(store, KeywordClassifier(), "run")
        refresh_aggregates(store, taxonomy)
        refresh_analysis(store, taxonomy, config)
        outcome = rows(store, "SELECT outcome FROM complaint_facts")[0]["outcome"]
        breached = rows(store, "SELECT count(*) FILTER (WHERE breached) AS n FROM complaint_sla"
                        )[0]["n"]
        risk = rows(store, "SELECT complained_unresolved, resolved, resolved_quickly, "
                           "expected_lost FROM customers_at_risk "
                           "WHERE site = 'Leeds' AND failure_type = 'waiting'")
        return outcome, breached, risk

    outcome, breached, risk = figures()
    assert outcome == "complained_unresolved" and breached == 1
    assert risk == [{"complained_unresolved": 1, "resolved": 0, "resolved_quickly": 0,
                     "expected_lost": 0.81}]
    write(crm, "tickets.csv", TICKET_COLUMNS,
          [[*ticket[:4], "resolved", "2026-01-05 15:00", *ticket[6:]]])
    outcome, breached, risk = figures()
    assert outcome == "resolved_quickly" and breached == 0
    assert risk == [{"complained_unresolved": 0, "resolved": 0, "resolved_quickly": 1,
                     "expected_lost": 0.18}]
    # Reopened two days later and resolved slowly: a plain resolution.
    write(crm, "tickets.csv", TICKET_COLUMNS,
          [[*ticket[:4], "resolved", "2026-01-08 15:00", *ticket[6:]]])
    outcome, breached, risk = figures()
    assert outcome == "resolved" and risk[0]["resolved"] == 1
    assert store.count("complaints_history") == 3
    store.close()


def test_an_edited_text_is_predicted_again_and_the_trends_use_the_new_prediction(
        tmp_path: Path) -> None:
    taxonomy = Taxonomy.load(REPO / "config" / "taxonomy.yaml")
    store = Store.open(tmp_path / "s.duckdb")
    web = tmp_path / "web"
    write(web, "reviews.csv", REVIEW_COLUMNS, [
        ("R1", "Lovely staff", "2026-01-05 08:00", "Leeds", "5", ""),
        ("R2", "great breakfast", "2026-01-05 09:00", "Leeds", "5", "")])
    ingest(store, reviews(web))
    model = KeywordClassifier()
    assert classify_pending(store, model, "r1").classified == 2
    refresh_aggregates(store, taxonomy)
    negative = "SELECT negative_items FROM daily_negative WHERE failure_type = 'waiting'"
    assert rows(store, negative) == []

    write(web, "reviews.csv", REVIEW_COLUMNS, [
        ("R1", "Edited: we waited an hour for the room", "2026-01-05 08:00", "Leeds", "2", ""),
        ("R2", "great breakfast", "2026-01-05 09:00", "Leeds", "5", "")])
    counts = ingest(store, reviews(web), "r2")
    assert (counts.feedback_added, counts.feedback_updated, counts.duplicates) == (0, 1, 1)
    # Until the model has read the new text, no stale prediction is shown for it.
    assert store.count("feedback_predictions") == 1
    again = classify_pending(store, model, "r2")
    assert (again.pending, again.classified) == (1, 1)
    assert model.seen[-1] == "Edited: we waited an hour for the room"
    shown = rows(store, "SELECT external_id, rating, sentiment, failure_types, content_hash "
                        "FROM feedback_predictions ORDER BY external_id")
    assert [(r["external_id"], r["rating"], r["sentiment"], r["failure_types"])
            for r in shown] == [("R1", 2.0, "negative", ["waiting"]),
                                ("R2", 5.0, "positive", [])]
    # One prediction per item and model version: the new one replaced the stale one.
    assert rows(store, "SELECT count(*) AS n FROM predictions")[0]["n"] == 2
    assert rows(store, "SELECT p.content_hash FROM predictions p JOIN feedback f USING (item_id) "
                       "WHERE f.external_id = 'R1'") == [{"content_hash": shown[0]["content_hash"]}]
    refresh_aggregates(store, taxonomy)
    assert rows(store, negative) == [{"negative_items": 1}]
    history = rows(store, "SELECT h.version, h.text, h.rating, h.changed_fields "
                          "FROM feedback_history h JOIN feedback f USING (item_id) "
                          "WHERE f.external_id = 'R1' ORDER BY h.version")
    assert history == [
        {"version": 1, "text": "Lovely staff", "rating": 5.0, "changed_fields": []},
        {"version": 2, "text": "Edited: we waited an hour for the room", "rating": 2.0,
         "changed_fields": ["text", "rating"]}]
    assert classify_pending(store, model, "r3").pending == 0
    store.close()


def test_a_rating_edit_or_a_respaced_text_needs_no_model_work(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.duckdb")
    web = tmp_path / "web"
    write(web, "a.csv", REVIEW_COLUMNS, [("R1", "Lovely staff", "2026-01-05", "Leeds", "5", "")])
    ingest(store, reviews(web))
    model = KeywordClassifier()
    classify_pending(store, model, "r1")
    write(web, "a.csv", REVIEW_COLUMNS,
          [("R1", "  lovely   STAFF ", "2026-01-05", "Leeds", "3", "")])
    counts = ingest(store, reviews(web), "r2")
    assert counts.feedback_updated == 1
    stored = rows(store, "SELECT text, rating, version FROM feedback")
    assert stored == [{"text": "Lovely staff", "rating": 3.0, "version": 2}]
    assert classify_pending(store, model, "r2").pending == 0 and len(model.seen) == 1
    store.close()


def snapshot(store: Store) -> dict[str, list[dict[str, Any]]]:
    return {table: rows(store, f"SELECT * FROM {table} ORDER BY ALL")
            for table in ("feedback", "complaints", "feedback_history", "complaints_history",
                          "quarantine")}


def test_the_same_export_read_again_changes_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.duckdb")
    crm, web = tmp_path / "crm", tmp_path / "web"
    ticket_rows = [
        ("T1", "waited", "2026-01-05 09:00", "Leeds", "resolved", "2026-01-06 09:00", "x", "c1"),
        ("T2", "", "2026-01-05 10:00", "York", "open", "", "", ""),
        ("T2", "", "2026-01-05 10:00", "York", "open", "", "", ""),
        ("T3", "bad", "not a date", "York", "open", "", "", "")]
    review_rows = [("R1", "Lovely staff", "2026-01-05", "Leeds", "5", ""),
                   ("", "Great stay, friendly staff", "2026-01-05", "Leeds", "", "")]
    write(crm, "export-1.csv", TICKET_COLUMNS, ticket_rows)
    write(web, "export-1.csv", REVIEW_COLUMNS, review_rows)
    ingest(store, tickets(crm))
    ingest(store, reviews(web))
    before = snapshot(store)

    def again() -> list[tuple[int, ...]]:
        counts = [ingest(store, tickets(crm), "r2"), ingest(store, reviews(web), "r2")]
        return [(c.rows_read, c.duplicates, c.quarantined,
                 c.complaints_updated + c.feedback_updated,
                 c.complaints_added + c.feedback_added) for c in counts]

    # The same file read again (its source state lost): not one row changes.
    store.execute("DELETE FROM source_state")
    assert again() == [(4, 4, 0, 0, 0), (2, 2, 0, 0, 0)]
    assert snapshot(store) == before
    # The same content under a new name (a nightly full export): only the bad row is
    # quarantined again, for its new file.
    write(crm, "export-2.csv", TICKET_COLUMNS, ticket_rows)
    write(web, "export-2.csv", REVIEW_COLUMNS, review_rows)
    assert again() == [(4, 3, 1, 0, 0), (2, 2, 0, 0, 0)]
    after = snapshot(store)
    assert {k: v for k, v in after.items() if k != "quarantine"} == {
        k: v for k, v in before.items() if k != "quarantine"}
    store.close()


def test_an_older_version_never_overwrites_a_newer_one(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.duckdb")
    crm = tmp_path / "crm"
    columns = [*TICKET_COLUMNS, "modified"]
    base = ["T1", "waited", "2026-01-05 09:00", "Leeds"]
    config = tickets(crm, mapping={"updated_at": "modified"})
    write(crm, "b.csv", columns,
          [[*base, "resolved", "2026-01-06 09:00", "x", "", "2026-01-06 09:00"]])
    ingest(store, config)
    # An older export arrives later (a backfill): its version time is older, nothing changes.
    write(crm, "c.csv", columns, [[*base, "open", "", "x", "", "2026-01-05 09:30"]])
    late = ingest(store, config, "r2")
    assert (late.complaints_updated, late.duplicates) == (0, 1)
    # Within one file, the newest version of a ticket wins whatever the row order.
    write(crm, "d.csv", columns, [
        [*base, "closed", "2026-01-07 09:00", "x", "", "2026-01-07 09:00"],
        [*base, "open", "", "x", "", "2026-01-05 10:00"]])
    newer = ingest(store, config, "r3")
    assert (newer.complaints_updated, newer.duplicates) == (1, 1)
    assert rows(store, "SELECT status, source_updated_at, version FROM complaints") == [
        {"status": "closed", "source_updated_at": datetime(2026, 1, 7, 9), "version": 2}]
    store.close()


def test_updatable_fields_are_declared_per_source_and_checked_per_kind(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.duckdb")
    crm = tmp_path / "crm"
    row = ["T1", "waited", "2026-01-05 09:00", "Leeds", "open", "", "Late Flight", ""]
    write(crm, "a.csv", TICKET_COLUMNS, [row])
    frozen = tickets(crm, updatable_fields=[])
    ingest(store, frozen)
    write(crm, "a.csv", TICKET_COLUMNS, [[*row[:4], "resolved", "", "Bad Flight", ""]])
    assert ingest(store, frozen, "r2").complaints_updated == 0
    write(crm, "a.csv", TICKET_COLUMNS, [[*row[:4], "resolved", "", "Bad Flight", "c9"]])
    status_only = ingest(store, tickets(crm, updatable_fields=["status"]), "r3")
    assert status_only.complaints_updated == 1
    assert rows(store, "SELECT status, category, customer_id FROM complaints") == [
        {"status": "resolved", "category": "Late Flight", "customer_id": None}]

    assert tickets(crm).fields_that_may_change() == ("status", "resolved_at", "category")
    assert reviews(crm).fields_that_may_change() == ("text", "rating")
    source = {"name": "s", "kind": "complaint", "type": "folder", "path": "x",
              "mapping": {"created_at": "d", "site_value": "York"}}
    parsed = SourcesFile.model_validate({"sources": [source | {"updatable_fields": ["text"]}]})
    assert parsed.sources[0].fields_that_may_change() == ("text",)
    with pytest.raises(ValidationError, match="do not apply to complaint"):
        SourcesFile.model_validate({"sources": [source | {"updatable_fields": ["rating"]}]})
    with pytest.raises(ValidationError):
        SourcesFile.model_validate({"sources": [source | {"updatable_fields": ["site"]}]})
    store.close()


def test_identical_texts_at_two_sites_without_ids_are_two_records(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.duckdb")
    web = tmp_path / "web"
    write(web, "a.csv", REVIEW_COLUMNS, [
        ("", "Great stay, friendly staff", "2026-05-20", "Hotel A", "5", ""),
        ("", "Great stay, friendly staff", "2026-05-21", "Hotel B", "5", ""),
        ("", "Great stay, friendly staff", "2026-05-21", "Hotel A", "5", ""),
        # The same review twice in one export: one record.
        ("", "great stay,  friendly staff", "2026-05-21", "Hotel B", "5", "")])
    config = reviews(web, external_id=None)
    counts = ingest(store, config)
    assert (counts.feedback_added, counts.duplicates) == (3, 1)
    assert rows(store, "SELECT site, created_at FROM feedback ORDER BY site, created_at") == [
        {"site": "Hotel A", "created_at": datetime(2026, 5, 20)},
        {"site": "Hotel A", "created_at": datetime(2026, 5, 21)},
        {"site": "Hotel B", "created_at": datetime(2026, 5, 21)}]
    model = KeywordClassifier()
    assert classify_pending(store, model, "r1").classified == 1  # one text, three records
    write(web, "b.csv", REVIEW_COLUMNS,
          [("", "Great stay, friendly staff", "2026-05-21", "Hotel B", "4", "")])
    again = ingest(store, config, "r2")
    # No id: the rating of the same review (source, site, time, text) is still updatable.
    assert (again.feedback_added, again.feedback_updated) == (0, 1)
    assert store.count("feedback") == 3
    store.close()


def test_a_record_without_an_external_id_is_never_keyed_by_its_text_alone() -> None:
    day = datetime(2026, 5, 20)
    a = make_item_id("web", "feedback", None, "h", site="Hotel A", created_at=day)
    assert a == make_item_id("web", "feedback", None, "h", site="Hotel A", created_at=day)
    assert len({a,
                make_item_id("web", "feedback", None, "h", site="Hotel B", created_at=day),
                make_item_id("web", "feedback", None, "h", site="Hotel A",
                             created_at=datetime(2026, 5, 21)),
                make_item_id("web", "feedback", None, "h2", site="Hotel A", created_at=day),
                make_item_id("app", "feedback", None, "h", site="Hotel A", created_at=day),
                make_item_id("web", "complaint", None, "h", site="Hotel A", created_at=day)}) == 6
    # The source's own id is the key when there is one: a text edit keeps the record.
    assert make_item_id("web", "feedback", "R1", "h") == make_item_id("web", "feedback", "R1",
                                                                      "h2")
    with pytest.raises(ValueError, match="site and created_at"):
        make_item_id("web", "feedback", None, "h")


def test_a_batch_keeps_the_newest_version_of_a_record() -> None:
    mapping = ColumnMapping(text="text", created_at="date", site="site", external_id="id",
                            status="status", updated_at="modified")
    ctx = RecordContext("crm", "complaint", mapping, True, None, 1000,  # type: ignore[arg-type]
                        pseudonym_key=KEY)

    def raw(status: str, modified: str) -> RawRow:
        return RawRow("f.csv", 1, {"id": "T1", "text": "late", "date": "2026-01-05",
                                   "site": "Leeds", "status": status, "modified": modified})

    def kept(*batch: RawRow) -> list[str]:
        return map_batch(list(batch), ctx, "run", utcnow()).items.column("status").to_pylist()

    assert kept(raw("open", "2026-01-05"), raw("resolved", "2026-01-06")) == ["resolved"]
    assert kept(raw("resolved", "2026-01-06"), raw("open", "2026-01-05")) == ["resolved"]
    assert kept(raw("open", ""), raw("resolved", "")) == ["resolved"]  # no version: last read
    assert isinstance(map_row(raw("open", "someday"), ctx), Rejected)


# -- migration 006 on a store built with the old keys ------------------------------------------

def old_item_id(source: str, kind: str, external_id: str | None, text_hash: str | None) -> str:
    """make_item_id before migration 006: the text alone keyed a row without an external id."""
    key = f"id:{external_id}" if external_id else f"hash:{text_hash}"
    return hashlib.sha256(f"{source}\x1f{kind}\x1f{key}".encode()).hexdigest()[:32]


def old_records(raw: list[dict[str, object]], kind: str, mapping: ColumnMapping,
                source: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(records as the old code stored them, the same rows keyed as now)."""
    ctx = RecordContext(source, kind, mapping, False, None, 1000,  # type: ignore[arg-type]
                        pseudonym_key=KEY)
    stored: dict[str, dict[str, Any]] = {}
    current = []
    now = utcnow()
    for number, data in enumerate(raw, start=2):
        record = map_row(RawRow("old.csv", number, data), ctx)
        assert not isinstance(record, Rejected)
        current.append(record)
        old = dict(record, run_id="old-run", ingested_at=now)
        del old["source_updated_at"]
        old["item_id"] = old_item_id(source, kind, record["external_id"],
                                     record["content_hash"])
        stored.setdefault(old["item_id"], old)  # the old keying kept the first, lost the rest
    return list(stored.values()), current


def test_migration_rekeys_a_store_built_with_the_old_keys(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    review_mapping = ColumnMapping(text="text", created_at="date", site="site", rating="stars",
                                   external_id="id")
    ticket_mapping = ColumnMapping(text="text", created_at="opened", site="site",
                                   external_id="id", status="status")
    review_rows: list[dict[str, object]] = [
        {"id": "", "text": "Great stay, friendly staff", "date": "2026-05-20", "site": "Hotel A",
         "stars": "5"},
        {"id": "", "text": "Great stay, friendly staff", "date": "2026-05-21", "site": "Hotel B",
         "stars": "5"},
        {"id": "", "text": "Das Frühstück war kalt", "date": "2026-05-21T07:08:09.123456",
         "site": "Zürich Süd", "stars": "2"},
        {"id": "R9", "text": "Lovely staff", "date": "2026-05-22", "site": "Hotel A",
         "stars": "5"}]
    ticket_rows: list[dict[str, object]] = [
        {"id": "", "text": "", "opened": "2026-05-20 00:00:00", "site": "Hotel A",
         "status": "open"},
        {"id": "", "text": "no towels in the room", "opened": "2026-05-20 10:00",
         "site": "Hotel B", "status": "open"}]
    old_feedback, new_feedback = old_records(review_rows, "feedback", review_mapping, "web")
    old_tickets, new_tickets = old_records(ticket_rows, "complaint", ticket_mapping, "crm")
    assert len(old_feedback) == 3  # Hotel B's review was lost to Hotel A's

    store = Store.open(path, migrate=False)
    store.apply_migrations(up_to=5)
    assert store.schema_version() == 5
    store.insert_arrow("feedback", pa.Table.from_pylist(old_feedback))
    store.insert_arrow("complaints", pa.Table.from_pylist(old_tickets))
    now = utcnow()
    store.insert_arrow("predictions", pa.Table.from_pylist([
        {"item_id": r["item_id"], "model_version": "m/1", "item_kind": kind,
         "content_hash": r["content_hash"], "sentiment": "positive", "sentiment_score": 0.9,
         "failure_types": [], "failure_scores": "{}", "responses": [], "response_scores": "{}",
         "run_id": "old-run", "predicted_at": now}
        for kind, records in (("feedback", old_feedback), ("complaint", old_tickets))
        for r in records if r["content_hash"]]))
    anonymous_ticket = old_tickets[1]["item_id"]
    store.insert_arrow("feedback_silence", pa.Table.from_pylist([
        {"item_id": r["item_id"], "voiced": True, "voice_source": "complaint",
         "complaint_id": anonymous_ticket, "link_method": "window", "hours_apart": 1.0,
         "polite_silence": False, "silent": False, "silent_signals": [], "silent_score": 0.0}
        for r in old_feedback]))
    store.insert_arrow("complaint_facts", pa.Table.from_pylist([
        {"complaint_id": r["item_id"], "site": r["site"], "created_at": r["created_at"],
         "status": r["status"], "failure_types": [], "outcome": "complained_unresolved",
         "is_complex": False, "sla_target_days": 3.0} for r in old_tickets]))
    store.close()

    with Store.open(path) as store:
        assert store.schema_version() >= 6
        # The keys are now those the record mapping computes for the same rows.
        kept = {(r["site"], r["created_at"]) for r in old_feedback}
        expected = sorted(r["item_id"] for r in new_feedback
                          if (r["site"], r["created_at"]) in kept)
        assert sorted(r["item_id"] for r in rows(store, "SELECT item_id FROM feedback")) == expected
        stored_tickets = rows(store, "SELECT item_id FROM complaints")
        assert sorted(r["item_id"] for r in stored_tickets) == sorted(
            r["item_id"] for r in new_tickets)
        assert rows(store, "SELECT item_id FROM feedback WHERE external_id = 'R9'") == [
            {"item_id": old_item_id("web", "feedback", "R9", None)}]
        # Everything that referred to the old ids follows them.
        assert store.count("feedback_predictions") == 3
        orphans = rows(store, """
            SELECT (SELECT count(*) FROM predictions WHERE item_id NOT IN
                        (SELECT item_id FROM feedback UNION ALL SELECT item_id FROM complaints))
                   + (SELECT count(*) FROM feedback_silence WHERE item_id NOT IN
                        (SELECT item_id FROM feedback)
                      OR complaint_id NOT IN (SELECT item_id FROM complaints))
                   + (SELECT count(*) FROM complaint_facts WHERE complaint_id NOT IN
                        (SELECT item_id FROM complaints)) AS n""")
        assert orphans == [{"n": 0}]
        assert store.count("feedback_enriched") == 3
        assert rows(store, "SELECT count(*) AS n, min(version) AS v FROM feedback_history") == [
            {"n": 3, "v": 1}]
        assert store.count("complaints_history") == 2

        # The same exports read again: nothing stored twice, and Hotel B's review comes back.
        web, crm = tmp_path / "web", tmp_path / "crm"
        write(web, "old.csv", ["id", "text", "date", "site", "stars"],
              [list(r.values()) for r in review_rows])
        write(crm, "old.csv", ["id", "text", "opened", "site", "status"],
              [list(r.values()) for r in ticket_rows])
        feedback = FolderSourceConfig(name="web", kind="feedback", path=web,
                                      mapping=review_mapping)
        complaints = FolderSourceConfig(name="crm", kind="complaint", path=crm,
                                        mapping=ticket_mapping, require_text=False)
        counts = ingest(store, feedback), ingest(store, complaints)
        assert [(c.rows_read, c.feedback_added + c.complaints_added, c.duplicates)
                for c in counts] == [(4, 1, 3), (2, 0, 2)]
        assert rows(store, "SELECT site FROM feedback WHERE text LIKE 'Great%' ORDER BY site") == [
            {"site": "Hotel A"}, {"site": "Hotel B"}]
        model = KeywordClassifier()
        model.version = "m/1"
        # Hotel B's text is known: its prediction is copied, the model reads nothing.
        assert (classify_pending(store, model, "r").reused, len(model.seen)) == (1, 0)


# -- migration 011: the current version is no longer copied into the history ------------------

def test_migration_011_keeps_every_version_and_stores_the_current_text_once(
        tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    store = Store.open(path, migrate=False)
    store.apply_migrations(up_to=10)
    t0, t1 = datetime(2026, 5, 20, 8), datetime(2026, 5, 21, 9)
    f1 = make_item_id("web", "feedback", "R1", None)
    h2 = content_hash("edited: cold room")
    store.insert_arrow("feedback", pa.Table.from_pylist([
        {"item_id": f1, "source": "web", "external_id": "R1", "content_hash": h2, "created_at": t0,
         "site": "Leeds", "language": "en", "text": "edited: cold room", "rating": 2.0,
         "run_id": "r1", "ingested_at": t0, "version": 2, "changed_at": t1},
        {"item_id": "f2", "source": "web", "content_hash": "h3", "created_at": t0,
         "site": "York", "language": "en", "text": "lovely staff", "rating": 5.0,
         "run_id": "r1", "ingested_at": t0, "version": 1}]))
    store.insert_arrow("complaints", pa.Table.from_pylist([
        {"item_id": "c1", "source": "crm", "created_at": t0, "site": "Leeds",
         "status": "open", "run_id": "r1", "ingested_at": t0, "version": 1}]))
    old_history = [
        {"item_id": f1, "version": 1, "valid_from": t0, "valid_to": t1,
         "source_updated_at": None, "changed_fields": [], "rating": 4.0, "content_hash": "h1",
         "language": "en", "text": "cold room", "location": "a.csv", "line": 2,
         "run_id": "r1"},
        {"item_id": f1, "version": 2, "valid_from": t1, "valid_to": None,
         "source_updated_at": None, "changed_fields": ["text", "rating"], "rating": 2.0,
         "content_hash": h2, "language": "en", "text": "edited: cold room",
         "location": None, "line": None, "run_id": "r2"},
        {"item_id": "f2", "version": 1, "valid_from": t0, "valid_to": None,
         "source_updated_at": None, "changed_fields": [], "rating": 5.0, "content_hash": "h3",
         "language": "en", "text": "lovely staff", "location": None, "line": None,
         "run_id": "r1"}]
    store.insert_arrow("feedback_history", pa.Table.from_pylist(old_history))
    store.insert_arrow("complaints_history", pa.Table.from_pylist([
        {"item_id": "c1", "version": 1, "valid_from": t0, "valid_to": None,
         "source_updated_at": None, "changed_fields": [], "status": "open", "run_id": "r1"}]))
    store.close()

    with Store.open(path) as store:
        assert store.schema_version() >= 11
        history = rows(store, "SELECT * FROM feedback_history ORDER BY item_id, version")
        assert history == sorted(old_history, key=lambda r: (r["item_id"], r["version"]))
        assert rows(store, "SELECT item_id, version, status, changed_fields, run_id "
                           "FROM complaints_history") == [
            {"item_id": "c1", "version": 1, "status": "open", "changed_fields": [],
             "run_id": "r1"}]
        # Only the replaced version keeps a copy of its text.
        assert rows(store, "SELECT item_id, version, text FROM feedback_replaced_versions") == [
            {"item_id": f1, "version": 1, "text": "cold room"}]
        assert store.count("complaints_replaced_versions") == 0

        # A third version moves the second one out of the row, with what it had changed.
        web = tmp_path / "web"
        write(web, "b.csv", ["id", "text", "date", "site", "stars"],
              [("R1", "edited: cold room", "2026-05-20 08:00", "Leeds", "1")])
        config = FolderSourceConfig(name="web", kind="feedback", path=web, mapping={
            "text": "text", "created_at": "date", "site": "site", "rating": "stars",
            "external_id": "id"})
        counts = ingest(store, config, "r3")
        assert (counts.feedback_added, counts.feedback_updated) == (0, 1)
        versions = rows(store, "SELECT h.version, h.rating, h.changed_fields, h.run_id, "
                               "h.valid_to IS NULL AS current FROM feedback_history h "
                               "JOIN feedback f USING (item_id) WHERE f.external_id = 'R1' "
                               "ORDER BY h.version")
        assert versions == [
            {"version": 1, "rating": 4.0, "changed_fields": [], "run_id": "r1",
             "current": False},
            {"version": 2, "rating": 2.0, "changed_fields": ["text", "rating"], "run_id": "r2",
             "current": False},
            {"version": 3, "rating": 1.0, "changed_fields": ["rating"], "run_id": "r3",
             "current": True}]
