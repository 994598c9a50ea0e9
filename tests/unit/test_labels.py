"""Corrections in a loop: validation, upsert with history, export margins and spread, and the
corrections' way into training (issue 15)."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from typer.testing import CliRunner

from mining import labels
from mining.classify import data
from mining.classify.data import Example, LabelIds
from mining.cli import app
from mining.labels import Candidate, CorrectionsInvalid, Thresholds
from mining.pipeline import PREDICTION_SCHEMA
from mining.runlock import exclusive_run
from mining.store.db import Store
from mining.taxonomy import Taxonomy

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def taxonomy(tmp_path: Path) -> Taxonomy:
    """The shipped taxonomy, with an old id kept as an alias and a custom type."""
    raw = yaml.safe_load((REPO / "config" / "taxonomy.yaml").read_text(encoding="utf-8"))
    raw["failure_types"]["staff_attitude"]["aliases"] = ["rude_staff"]
    raw["failure_types"]["noise"] = {"root_cause": "product", "kind": "custom",
                                     "examples": "noise.csv", "description": "Street noise."}
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return Taxonomy.load(path)


def write(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    columns = columns or labels.GOLD_COLUMNS
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def row(item_id: str, text: str = "The waiter was rude.", sentiment: str = "negative",
        failures: str = "staff_attitude", response: str = "none", **extra: str
        ) -> dict[str, str]:
    return {"id": item_id, "text": text, "language": "en", "sentiment": sentiment,
            "failure_types": failures, "response": response, **extra}


# -- validation --------------------------------------------------------------------------------
def test_validation_maps_aliases_orders_ids_and_allows_custom_types(taxonomy: Taxonomy,
                                                                     tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", [
        row("a", failures="waiting;rude_staff"),
        row("b", text="Thin walls, street noise all night.", failures="noise"),
        row("c", text="Lovely stay.", sentiment="positive", failures="none", response=""),
    ])
    got = labels.validate(*labels.read_rows(path), taxonomy, path)
    assert [c.failure_types for c in got] == ["staff_attitude;waiting", "noise", "none"]
    assert got[2].response == ""  # empty: not labelled, not "no response"


def test_every_bad_line_is_named_in_one_error(taxonomy: Taxonomy, tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", [
        row("a"),
        row("b", sentiment="angry"),
        row("c", failures="waiting;teleportation"),
        row("a", text="Another text."),
        row("d", text="  "),
        row("e", failures="none;waiting"),
        row("f", response="voice;shouting"),
        row("g", sentiment="", failures="", response=""),
        row("h", text="Multi\nline\ntext", sentiment="bad"),
        row("i"),
    ])
    with pytest.raises(CorrectionsInvalid) as caught:
        labels.validate(*labels.read_rows(path), taxonomy, path)
    message = str(caught.value)
    assert "8 bad row(s), nothing stored" in message
    assert "line 3: sentiment 'angry' is not one of negative, neutral, positive" in message
    assert "line 4: unknown failure type(s) teleportation" in message
    assert "line 5: id 'a' repeats line 2" in message
    assert "line 6: empty text" in message
    assert "line 7: failure types: 'none' together with other ids" in message
    assert "line 8: unknown response(s) shouting" in message
    assert "line 9: no label given" in message
    assert "line 10: sentiment 'bad'" in message  # the first line of a multi-line record
    assert "line 13" not in message and "rude" not in message  # no text quoted


def test_missing_columns_are_one_error(taxonomy: Taxonomy, tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", [row("a")], ["id", "text", "sentiment"])
    with pytest.raises(CorrectionsInvalid, match="missing column.*failure_types, response"):
        labels.validate(*labels.read_rows(path), taxonomy, path)


def test_the_import_command_stores_nothing_when_one_row_is_bad(
        taxonomy: Taxonomy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corrections = tmp_path / "labels" / "corrections.csv"
    monkeypatch.setenv("MINING_CORRECTIONS_PATH", str(corrections))
    monkeypatch.setenv("MINING_TAXONOMY_PATH", str(taxonomy.source))
    path = write(tmp_path / "c.csv", [row("a"), row("b", failures="teleportation")])
    result = runner.invoke(app, ["label", "import", str(path), "--labeller", "ana"])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "line 3: unknown failure type(s) teleportation" in lines[0]
    assert not corrections.exists()

    good = write(tmp_path / "good.csv", [row("a"), row("b", failures="waiting")])
    result = runner.invoke(app, ["label", "import", str(good), "--labeller", "ana"])
    assert result.exit_code == 0, result.output
    assert "2 new, 0 changed, 0 unchanged" in " ".join(result.output.split())
    stored = list(csv.DictReader(corrections.open(encoding="utf-8")))
    assert [r["labeller"] for r in stored] == ["ana", "ana"]
    assert {r["source_file"] for r in stored} == {"good.csv"}


# -- upsert and history ------------------------------------------------------------------------
def test_upsert_keeps_the_newest_correction_and_every_version(taxonomy: Taxonomy,
                                                              tmp_path: Path) -> None:
    corrections = tmp_path / "corrections.csv"
    first = labels.validate(*labels.read_rows(write(tmp_path / "1.csv", [
        row("a"), row("b", text="Slow check-in.", failures="waiting")])), taxonomy, "1.csv")
    counts = labels.store_corrections(first, corrections, "ana", datetime(2026, 12, 1, 9), "1.csv")
    assert (counts.new, counts.changed, counts.unchanged) == (2, 0, 0)

    second = labels.validate(*labels.read_rows(write(tmp_path / "2.csv", [
        row("a", failures="staff_attitude;customer_service", labeller="bo"),
        row("b", text="Slow check-in.", failures="waiting"),
        row("c", text="Charged twice.", failures="price_billing")],
        [*labels.GOLD_COLUMNS, "labeller"])), taxonomy, "2.csv")
    counts = labels.store_corrections(second, corrections, "cy", datetime(2026, 12, 2, 9),
                                      "2.csv")
    assert (counts.new, counts.changed, counts.unchanged) == (1, 1, 1)

    stored = {r["id"]: r for r in csv.DictReader(corrections.open(encoding="utf-8"))}
    assert stored["a"]["failure_types"] == "staff_attitude;customer_service"
    assert stored["a"]["labeller"] == "bo"  # the row's own labeller beats --labeller
    assert stored["b"]["labelled_at"].startswith("2026-12-01")  # unchanged keeps its first stamp
    assert stored["c"]["labeller"] == "cy"
    history = list(csv.DictReader(labels.history_path(corrections).open(encoding="utf-8")))
    assert [(r["id"], r["source_file"]) for r in history] == [
        ("a", "1.csv"), ("b", "1.csv"), ("a", "2.csv"), ("c", "2.csv")]
    assert history[0]["failure_types"] == "staff_attitude"  # the older version is not lost


# -- export ------------------------------------------------------------------------------------
def test_margin_is_the_nearest_enabled_threshold() -> None:
    thresholds = Thresholds({"waiting": 0.8, "other": 0.5, "system_failure": 1.01},
                            {"voice": 0.9}, frozenset({"other"}))
    got = labels.nearest_threshold({"waiting": 0.7, "other": 0.5, "system_failure": 0.99,
                                    "unknown_label": 0.3}, {"voice": 0.85}, thresholds)
    assert got is not None
    label, margin = got
    assert label == "voice" and margin == pytest.approx(0.05)
    assert labels.nearest_threshold({"other": 0.5}, {}, thresholds) is None


def candidate(item_id: str, label: str, site: str, margin: float) -> Candidate:
    return Candidate(item_id, site, "en", f"text {item_id}", "negative", [], [], label, margin)


def test_spread_takes_a_round_from_every_label_and_site_before_a_second() -> None:
    items = ([candidate(f"w{i}", "waiting", "hotel", 0.001 * i) for i in range(10)]
             + [candidate("p1", "price_billing", "hotel", 0.30),
                candidate("p2", "price_billing", "bank", 0.20),
                candidate("w-bank", "waiting", "bank", 0.40)])
    chosen = labels.spread(items, 6)
    assert [c.item_id for c in chosen] == ["w0", "p2", "p1", "w-bank", "w1", "w2"]
    assert len(labels.spread(items, 100)) == len(items)
    assert labels.spread(items, 0) == []


def test_candidates_use_each_models_thresholds_current_ids_and_skip_corrected(
        taxonomy: Taxonomy) -> None:
    rows = [{"item_id": i, "site": "hotel", "language": "en", "text": "t", "model_version": v,
             "sentiment": "negative", "failure_types": ["rude_staff"], "responses": [],
             "failure_scores": json.dumps({"rude_staff": s}), "response_scores": "{}"}
            for i, v, s in (("a", "m/1", 0.6), ("b", "m/2", 0.6), ("c", "m/1", 0.9))]
    thresholds = {"m/1": Thresholds({"rude_staff": 0.5}, {}),
                  "m/2": Thresholds({"rude_staff": 0.7}, {})}
    got = labels.candidates(rows, thresholds, taxonomy, skip_ids={"c"})
    assert [(c.item_id, round(c.margin, 3), c.nearest_label) for c in got] == [
        ("a", 0.1, "staff_attitude"), ("b", 0.1, "staff_attitude")]
    assert got[0].failure_types == ["staff_attitude"]
    with pytest.raises(KeyError, match="m/3"):
        labels.candidates([{**rows[0], "model_version": "m/3"}], thresholds, taxonomy)


def test_label_studio_tasks_carry_the_text_and_current_labels(taxonomy: Taxonomy) -> None:
    c = Candidate("a", "hotel", "en", "Rude staff.", "negative", ["staff_attitude"], [],
                  "staff_attitude", 0.05, "radar-e5/1")
    (task,) = labels.label_studio_tasks([c])
    assert task["data"]["text"] == "Rude staff." and task["data"]["item_id"] == "a"
    result = {r["from_name"]: r["value"]["choices"] for r in task["predictions"][0]["result"]}
    assert result == {"sentiment": ["negative"], "failure_types": ["staff_attitude"],
                      "response": ["none"]}
    config = labels.label_studio_config(taxonomy)
    assert '<Choices name="failure_types"' in config and '<Choice value="noise"/>' in config


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real store with four predicted feedback items, and the predicting model's labels."""
    db = tmp_path / "radar.duckdb"
    now = datetime(2026, 12, 1)
    texts = {"h1": ("hotel", "The room was dirty.", 0.62), "h2": ("hotel", "Nice view.", 0.05),
             "b1": ("bank", "Fees nobody told me about.", 0.58),
             "b2": ("bank", "The app crashed twice.", 0.40)}
    feedback = pa.Table.from_pylist([
        {"item_id": k, "source": "s", "content_hash": k, "created_at": now, "site": site,
         "language": "en", "text": text, "run_id": "r", "ingested_at": now}
        for k, (site, text, _) in texts.items()])
    predictions = pa.Table.from_pylist([
        {"item_id": k, "model_version": "radar-e5/t1", "item_kind": "feedback",
         "content_hash": k, "sentiment": "negative", "sentiment_score": 0.9,
         "failure_types": ["cleanliness_facilities"] if score >= 0.6 else [],
         "failure_scores": json.dumps({"cleanliness_facilities": score}),
         "responses": [], "response_scores": json.dumps({"voice": 0.1}),
         "run_id": "r", "predicted_at": now}
        for k, (_, _, score) in texts.items()], schema=PREDICTION_SCHEMA)
    with Store.open(db) as s, s.transaction():
        s.insert_arrow("feedback", feedback)
        s.insert_arrow("predictions", predictions)
    model = tmp_path / "models" / "radar-e5" / "t1"
    model.mkdir(parents=True)
    (model / "labels.json").write_text(json.dumps({
        "name": "radar-e5", "version": "t1", "sentiments": ["negative", "neutral", "positive"],
        "failure_types": ["cleanliness_facilities"], "responses": ["voice"],
        "failure_thresholds": {"cleanliness_facilities": 0.6},
        "response_thresholds": {"voice": 0.9}}), encoding="utf-8")
    monkeypatch.setenv("MINING_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("MINING_DB_PATH", str(db))
    monkeypatch.setenv("MINING_READ_COPY_PATH", str(tmp_path / "read.duckdb"))
    monkeypatch.setenv("MINING_CORRECTIONS_PATH", str(tmp_path / "corrections.csv"))
    monkeypatch.setenv("MINING_TAXONOMY_PATH", str(REPO / "config" / "taxonomy.yaml"))
    return db


def test_export_writes_the_gold_format_prefilled_and_skips_corrected_items(
        store: Path, tmp_path: Path) -> None:
    out = tmp_path / "uncertain.csv"
    result = runner.invoke(app, ["label", "export", "--uncertain", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output + result.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0]) == labels.EXPORT_COLUMNS
    # h1 (0.02 from 0.6) and b1 (0.02) first, one per site; then b2 (0.20) before h2 (0.55).
    assert [r["id"] for r in rows] == ["b1", "h1", "b2"]
    assert rows[1]["failure_types"] == "cleanliness_facilities" and rows[0]["failure_types"] == \
        "none"
    assert rows[1]["margin"] == "0.0200" and rows[1]["nearest_label"] == "cleanliness_facilities"

    rows[0]["failure_types"] = "price_billing"
    write(tmp_path / "fixed.csv", rows[:1], labels.EXPORT_COLUMNS)
    assert runner.invoke(app, ["label", "import", str(tmp_path / "fixed.csv"),
                               "--labeller", "ana"]).exit_code == 0
    again = runner.invoke(app, ["label", "export", "--uncertain", "3", "--out", str(out)])
    assert again.exit_code == 0
    assert [r["id"] for r in csv.DictReader(out.open(encoding="utf-8"))] == ["h1", "b2", "h2"]


def test_export_label_studio_and_the_run_lock(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "tasks.json"
    with exclusive_run(store, "run r-1"):
        busy = runner.invoke(app, ["label", "export", "--uncertain", "2", "--out", str(out),
                                   "--db", str(store), "--format", "label-studio"])
    assert busy.exit_code == 75 and "in use by run r-1" in busy.stderr
    result = runner.invoke(app, ["label", "export", "--uncertain", "2", "--out", str(out),
                                 "--format", "label-studio"])
    assert result.exit_code == 0, result.output + result.stderr
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert [t["data"]["item_id"] for t in tasks] == ["b1", "h1"]
    assert out.with_suffix(".label_config.xml").is_file()
    bad = runner.invoke(app, ["label", "export", "--uncertain", "2", "--out", str(out),
                              "--format", "xml"])
    assert bad.exit_code == 2 and "--format must be one of csv, label-studio" in bad.stderr


# -- training ----------------------------------------------------------------------------------
def test_corrections_replace_the_labels_of_the_same_text_in_train_only(
        taxonomy: Taxonomy, tmp_path: Path) -> None:
    corrections = tmp_path / "corrections.csv"
    incoming = labels.validate(*labels.read_rows(write(tmp_path / "c.csv", [
        row("a", text="The waiter was rude.", failures="rude_staff;noise"),
        row("b", text="Held-out dev text.", failures="waiting"),
        row("c", text="Only sentiment known.", sentiment="neutral", failures="", response="")])),
        taxonomy, "c.csv")
    labels.store_corrections(incoming, corrections, "ana", datetime(2026, 12, 1), "c.csv")
    ids = LabelIds.of(Taxonomy.load(REPO / "config" / "taxonomy.yaml"))
    examples = data.correction_examples(corrections, ids)
    assert {e.uid for e in examples} == {"correction:a", "correction:b", "correction:c"}
    a = next(e for e in examples if e.uid == "correction:a")
    assert a.failures["staff_attitude"] == 1 and sum(a.failures.values()) == 1  # noise: custom
    assert set(a.failures) == set(ids.failure_types) and a.responses["voice"] == 0
    c = next(e for e in examples if e.uid == "correction:c")
    assert c.failures == {} and c.responses == {} and c.sentiment == "neutral"

    corpus = Example("corpus:1", "corpus_train", "The waiter was rude.", "en", "negative",
                     dict.fromkeys(ids.failure_types, 0))
    other = Example("corpus:2", "corpus_train", "Fine.", "en", "positive")
    known = Example("corpus:4", "corpus_train", "Only sentiment known.", "en", "negative",
                    {**dict.fromkeys(ids.failure_types, 0), "waiting": 1},
                    dict.fromkeys(ids.responses, 0))
    dev = [Example("corpus:3", "corpus_dev", "Held-out dev text.", "en", "negative")]
    train, skipped = data.with_corrections([corpus, other, known], dev, examples)
    assert skipped == 1
    assert sorted(e.uid for e in train) == ["corpus:2", "correction:a", "correction:c"]
    # The correction's sentiment wins; the heads it left empty keep the text's own labels.
    c = next(e for e in train if e.uid == "correction:c")
    assert c.sentiment == "neutral" and c.failures == known.failures
    assert c.responses == known.responses


def test_a_label_studio_export_imports_its_annotated_tasks_only(
        taxonomy: Taxonomy, tmp_path: Path) -> None:
    c = Candidate("a", "hotel", "en", "Rude staff.", "negative", ["staff_attitude"], [],
                  "staff_attitude", 0.05, "radar-e5/1")
    reviewed, untouched, bad = (labels.label_studio_tasks([c])[0] for _ in range(3))
    untouched = {**untouched, "data": {**untouched["data"], "item_id": "b"}}
    reviewed["annotations"] = [
        {"updated_at": "2026-12-01T10:00", "result": [
            {"from_name": "sentiment", "value": {"choices": ["negative"]}},
            {"from_name": "failure_types", "value": {"choices": ["rude_staff", "waiting"]}},
            {"from_name": "response", "value": {"choices": ["none"]}}]},
        {"updated_at": "2026-12-01T09:00", "result": [
            {"from_name": "failure_types", "value": {"choices": ["other"]}}]}]
    bad = {**bad, "data": {**bad["data"], "item_id": "c"}, "annotations": [{"result": [
        {"from_name": "failure_types", "value": {"choices": ["teleportation"]}}]}]}
    path = tmp_path / "export.json"
    path.write_text(json.dumps([reviewed, untouched]), encoding="utf-8")
    (got,) = labels.validate(*labels.read_corrections(path), taxonomy, path, "task")
    assert (got.id, got.failure_types, got.response) == ("a", "staff_attitude;waiting", "none")
    path.write_text(json.dumps([reviewed, untouched, bad]), encoding="utf-8")
    with pytest.raises(CorrectionsInvalid, match="task 3: unknown failure type"):
        labels.validate(*labels.read_corrections(path), taxonomy, path, "task")
