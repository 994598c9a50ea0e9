"""Pipeline steps on a real DuckDB store: ingest counts, no repeated model work, trends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mining.pipeline import (
    classify_pending,
    derived_inputs,
    derived_stages_current,
    ingest_source,
    mark_derived_inputs,
    refresh_aggregates,
)
from mining.sources import FolderSource
from mining.sources.config import FolderSourceConfig
from mining.store.db import Store
from mining.taxonomy import Taxonomy

MAPPING = {"text": "text", "created_at": "date", "site": "site", "external_id": "id"}


@dataclass
class FakePrediction:
    sentiment: str
    sentiment_score: float
    failure_types: list[str]
    failure_scores: dict[str, float]
    responses: list[str] = field(default_factory=list)
    response_scores: dict[str, float] = field(default_factory=dict)


class KeywordClassifier:
    """A deterministic stand-in for the model: the thing under test here is the pipeline."""

    version = "keyword-test/1"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[FakePrediction]:
        self.seen.extend(texts)
        out = []
        for text in texts:
            waiting = "wait" in text.lower()
            out.append(FakePrediction("negative" if waiting else "positive", 0.9,
                                      ["waiting"] if waiting else [],
                                      {"waiting": 0.9 if waiting else 0.1}))
        return out


def write_csv(folder: Path, name: str, rows: list[tuple[str, str, str, str]]) -> None:
    folder.mkdir(exist_ok=True)
    lines = ["id,text,date,site"] + [",".join(r) for r in rows]
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def ingest(store: Store, folder: Path, name: str = "reviews"):
    config = FolderSourceConfig(name=name, kind="feedback", path=folder, mapping=MAPPING)
    return ingest_source(store, FolderSource(config, batch_rows=2), config, "run-1",
                         known_sites=frozenset({"Leeds", "York"}), max_text_chars=1000)


def test_ingest_counts_add_up_and_rerun_adds_nothing(tmp_path: Path) -> None:
    write_csv(tmp_path / "in", "a.csv", [
        ("1", "waited an hour", "2026-01-01", "Leeds"),
        ("2", "lovely staff", "2026-01-01", "York"),
        ("2", "lovely staff", "2026-01-01", "York"),
        ("3", "no such place", "2026-01-01", "Narnia"),
        ("4", "", "2026-01-02", "Leeds"),
    ])
    store = Store.in_memory()
    counts = ingest(store, tmp_path / "in")
    assert (counts.rows_read, counts.feedback_added, counts.quarantined, counts.duplicates) == (
        5, 2, 2, 1)
    assert store.count("feedback") == 2 and store.count("quarantine") == 2
    reasons = store.execute("SELECT reason, line FROM quarantine ORDER BY line").fetchall()
    assert reasons == [("unknown_site", 5), ("empty_text", 6)]
    again = ingest(store, tmp_path / "in")
    assert again.rows_read == 0 and store.count("feedback") == 2


def test_missing_folder_is_reported_not_fatal(tmp_path: Path) -> None:
    counts = ingest(Store.in_memory(), tmp_path / "nowhere")
    assert counts.rows_read == 0
    assert "folder not found" in counts.errors[0]


def test_each_text_goes_through_the_model_once(tmp_path: Path) -> None:
    write_csv(tmp_path / "in", "a.csv", [
        ("1", "waited an hour", "2026-01-01", "Leeds"),
        ("2", "Waited  an hour", "2026-01-02", "York"),
        ("3", "great", "2026-01-02", "York"),
    ])
    store = Store.in_memory()
    ingest(store, tmp_path / "in")
    model = KeywordClassifier()
    first = classify_pending(store, model, "run-1", chunk_size=2)
    assert (first.pending, first.classified, first.reused) == (3, 2, 1)
    assert len(model.seen) == 2
    second = classify_pending(store, model, "run-2")
    assert (second.pending, second.classified) == (0, 0) and len(model.seen) == 2
    # A new item with a known text reuses the stored prediction: still no model work.
    write_csv(tmp_path / "in", "b.csv", [("9", "great", "2026-01-03", "Leeds")])
    ingest(store, tmp_path / "in")
    third = classify_pending(store, model, "run-3")
    assert (third.classified, third.reused) == (0, 1) and len(model.seen) == 2
    assert store.count("predictions") == 4


def test_daily_trends_count_negative_items_per_type(tmp_path: Path, repo_root: Path) -> None:
    write_csv(tmp_path / "in", "a.csv", [
        ("1", "waited an hour", "2026-01-01", "Leeds"),
        ("2", "wait again", "2026-01-01", "Leeds"),
        ("3", "great", "2026-01-01", "Leeds"),
        ("4", "great food", "2026-01-02", "York"),
    ])
    store = Store.in_memory()
    ingest(store, tmp_path / "in")
    classify_pending(store, KeywordClassifier(), "run-1")
    refresh_aggregates(store, Taxonomy.load(repo_root / "config" / "taxonomy.yaml"))
    rows = store.execute(
        "SELECT site, failure_type, root_cause, negative_items, site_day_items, negative_share "
        "FROM daily_negative WHERE day = DATE '2026-01-01' ORDER BY failure_type").fetchall()
    assert rows == [("Leeds", "none", "none", None, 3, None),
                    ("Leeds", "waiting", "process_system", 2, 3, 2 / 3)]



def test_a_renamed_type_keeps_its_history_and_trends(tmp_path: Path, repo_root: Path) -> None:
    """`waiting` renamed to `delays` with `aliases: [waiting]`: stored predictions and the daily
    trends carry the new id, with the same counts, and nothing was classified again."""
    import yaml

    write_csv(tmp_path / "in", "a.csv", [
        ("1", "waited an hour", "2026-01-01", "Leeds"),
        ("2", "wait again", "2026-01-01", "Leeds"),
        ("3", "great", "2026-01-01", "Leeds"),
    ])
    store = Store.in_memory()
    ingest(store, tmp_path / "in")
    classify_pending(store, KeywordClassifier(), "run-1")
    taxonomy = Taxonomy.load(repo_root / "config" / "taxonomy.yaml")
    refresh_aggregates(store, taxonomy)
    query = ("SELECT failure_type, root_cause, negative_items FROM daily_negative "
             "WHERE failure_type <> 'none' ORDER BY failure_type")
    before = store.execute(query).fetchall()
    raw = yaml.safe_load((repo_root / "config" / "taxonomy.yaml").read_text(encoding="utf-8"))
    raw["failure_types"]["delays"] = {**raw["failure_types"].pop("waiting"),
                                      "aliases": ["waiting"]}
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    refresh_aggregates(store, Taxonomy.load(path))
    after = store.execute(query).fetchall()
    assert before == [("waiting", "process_system", 2)]
    assert after == [("delays", "process_system", 2)]
    stored = store.execute("SELECT failure_types, failure_scores FROM predictions "
                           "WHERE item_id IN (SELECT item_id FROM feedback)").fetchall()
    assert not any("waiting" in types or '"waiting"' in scores for types, scores in stored)
    assert store.count("predictions") == 3

# -- faults never block (issue 14) ---------------------------------------------------------
def test_a_poison_file_is_quarantined_and_the_next_ingest_does_not_fail(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_csv(folder, "a.csv", [("1", "waited an hour", "2026-01-01", "Leeds")])
    (folder / "b.parquet").write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    huge = "x" * 200_000
    (folder / "c.csv").write_text(
        f'id,text,date,site\n2,before,2026-01-01,York\n3,"{huge}",2026-01-01,York\n'
        "4,after,2026-01-01,York\n5,rated,2026-01-01,York\n", encoding="utf-8")
    store = Store.in_memory()
    counts = ingest(store, folder)
    assert counts.errors == [] and counts.failed_sources == []
    assert (counts.rows_read, counts.feedback_added, counts.quarantined) == (6, 4, 2)
    assert counts.rows_read == (counts.feedback_added + counts.feedback_updated
                                + counts.quarantined + counts.duplicates)
    reasons = store.execute("SELECT reason FROM quarantine ORDER BY reason").fetchall()
    assert reasons == [("oversize_text",), ("unreadable_file",)]
    again = ingest(store, folder)
    assert again.rows_read == 0 and again.errors == []


class ExplodingSource:
    name = "boom"

    def read(self, state: object):
        yield from ()
        raise RuntimeError("a bug in a connector")


def test_an_unexpected_error_in_one_source_is_reported_and_named(tmp_path: Path) -> None:
    config = FolderSourceConfig(name="boom", kind="feedback", path=tmp_path, mapping=MAPPING)
    counts = ingest_source(Store.in_memory(), ExplodingSource(), config, "run-1",
                           known_sites=None, max_text_chars=1000, pseudonym_key="k")
    assert counts.failed_sources == ["boom"]
    assert counts.errors == ["boom: unexpected RuntimeError: a bug in a connector"]


def test_derived_stages_are_current_only_after_a_finished_run_on_the_same_inputs(
        tmp_path: Path, repo_root: Path) -> None:
    folder = tmp_path / "in"
    write_csv(folder, "a.csv", [("1", "we had to wait an hour", "2026-03-01", "Leeds")])
    taxonomy = repo_root / "config" / "taxonomy.yaml"
    analysis = tmp_path / "analysis.yaml"
    analysis.write_text("{}\n", encoding="utf-8")
    with Store.open(tmp_path / "radar.duckdb") as store:
        ingest(store, folder)
        classify_pending(store, KeywordClassifier(), "run-1")

        def inputs() -> str:
            return derived_inputs(store, (taxonomy, analysis), "keyword-test/1", "")

        first = inputs()
        assert inputs() == first  # nothing changed, same digest
        store.start_run("run-1", None)
        assert not derived_stages_current(store, first)  # no run recorded it yet
        mark_derived_inputs(store, "run-1", first, done=False)  # killed inside the stages
        store.finish_run("run-1", "abandoned", {}, "{}")
        assert not derived_stages_current(store, first)
        store.start_run("run-2", None)
        mark_derived_inputs(store, "run-2", first, done=True)
        assert not derived_stages_current(store, first)  # run-2 has not finished
        store.finish_run("run-2", "succeeded", {}, "{}")
        assert derived_stages_current(store, first)
        # A new record, a new prediction, an edited config or another model: a new digest.
        write_csv(folder, "b.csv", [("2", "waited again", "2026-03-02", "York")])
        ingest(store, folder)
        after_ingest = inputs()
        assert after_ingest != first
        classify_pending(store, KeywordClassifier(), "run-3")
        assert inputs() != after_ingest
        current = inputs()
        analysis.write_text("silence: {}\n", encoding="utf-8")
        assert inputs() != current
        assert derived_inputs(store, (taxonomy, analysis), "another/2", "") != inputs()
        assert derived_inputs(store, (taxonomy, analysis), "keyword-test/1", "c1") != inputs()
