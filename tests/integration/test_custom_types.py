"""The worked example end to end: a hotel adds `noise` from docs/examples/noise.csv.

Real hotel reviews (booking.com, rows none of the examples come from), the real model, a real
DuckDB file and the `mining` command in subprocesses, in a temporary project.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.project import read_rows as rows

pytestmark = pytest.mark.integration

REVIEW_ROWS = range(3360, 3660)  # docs/examples/noise.csv takes no text from these rows
HELD_OUT_NOISE = "paper thin walls prefab Can hear everything happening in the rooms next door"
NOT_NOISE = "No good towels no slippers breakfast not good"


def mining(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mining.cli", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=900)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done.stdout


@pytest.fixture
def project(tmp_path: Path, repo_root: Path, shared_data: Path) -> dict[str, str]:
    with (shared_data / "booking_hotels" / "reviews.csv").open(encoding="utf-8") as handle:
        source = list(csv.DictReader(handle))
    reviews = tmp_path / "reviews"
    reviews.mkdir()
    picked = [source[i] for i in REVIEW_ROWS]
    with (reviews / "hotel_reviews.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review_id", "text", "date", "hotel"])
        writer.writerows([f"bk{i}", r["text"], r["date"], r["place"]]
                         for i, r in zip(REVIEW_ROWS, picked, strict=True))
    sites = sorted({r["place"] for r in picked})
    (tmp_path / "sources.yaml").write_text(f"""
sites: {json.dumps(sites)}
sources:
  - name: hotel_reviews
    kind: feedback
    type: folder
    path: {reviews}
    mapping: {{text: text, created_at: date, created_at_formats: ["%m/%d/%Y"], site: hotel,
               external_id: review_id, channel_value: booking}}
""", encoding="utf-8")
    config = tmp_path / "config"
    config.mkdir()
    shutil.copyfile(repo_root / "config" / "taxonomy.yaml", config / "taxonomy.yaml")
    return {**os.environ, "MINING_SOURCES_CONFIG": str(tmp_path / "sources.yaml"),
            "MINING_DB_PATH": str(tmp_path / "radar.duckdb"),
            "MINING_READ_COPY_PATH": str(tmp_path / "radar_read.duckdb"),
            "MINING_TAXONOMY_PATH": str(config / "taxonomy.yaml"),
            "MINING_FEATURE_CACHE_DIR": str(tmp_path / "features"),
            "MINING_CUSTOM_HEADS_DIR": str(tmp_path / "custom-heads"),
            "MINING_CLASSIFY_CHUNK_SIZE": "64"}


def predict(repo: Path, env: dict[str, str], tmp: Path) -> list[dict[str, str]]:
    given, out = tmp / "to_predict.csv", tmp / "predicted.csv"
    with given.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["text"], [HELD_OUT_NOISE], [NOT_NOISE]])
    ok(mining(repo, env, "predict", "--input", str(given), "--output", str(out)))
    with out.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def list_row(repo: Path, env: dict[str, str], type_id: str) -> list[str]:
    """The cells of one row of `mining types list`."""
    out = ok(mining(repo, {**env, "COLUMNS": "250"}, "types", "list"))
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if cells and cells[0] == type_id:
            return cells
    raise AssertionError(f"{type_id} not listed:\n{out}")


def noise_items(db: Path) -> int:
    return rows(db, "SELECT count(*) FROM feedback_predictions "
                    "WHERE list_contains(failure_types, 'noise')")[0][0]


def test_noise_added_predicted_relabelled_listed_and_removed(project: dict[str, str],
                                                              repo_root: Path,
                                                              tmp_path: Path) -> None:
    db = Path(project["MINING_DB_PATH"])
    taxonomy = Path(project["MINING_TAXONOMY_PATH"])
    ok(mining(repo_root, project, "run"))
    stored = rows(db, "SELECT count(*) FROM feedback")[0][0]
    assert stored == len(REVIEW_ROWS)
    assert noise_items(db) == 0
    # Every classified text's features are in the cache: the relabel below encodes nothing.
    assert list((tmp_path / "features").glob("*/part-*.parquet"))

    out = ok(mining(repo_root, project, "types", "add", "noise", "--root-cause", "product",
                    "--description", "Street, neighbours, thin walls: noise that spoils a stay.",
                    "--examples", str(repo_root / "docs" / "examples" / "noise.csv")))
    assert "precision" in out and "n = 32 positives, 59 negatives" in " ".join(out.split())
    assert f"History relabelled: {stored} stored predictions" in " ".join(out.split())
    assert "(0 texts were not in the feature cache" in " ".join(out.split())
    text = taxonomy.read_text(encoding="utf-8")
    comments = [line for line in (repo_root / "config" / "taxonomy.yaml").read_text(
        encoding="utf-8").splitlines() if line.lstrip().startswith("#")]
    assert comments and all(line in text.splitlines() for line in comments)
    assert "kind: custom" in text
    assert (taxonomy.parent / "custom_types" / "noise.csv").read_bytes() == (
        repo_root / "docs" / "examples" / "noise.csv").read_bytes()

    # History: the stored items the head scores above its threshold carry noise, no others.
    head = json.loads(next((tmp_path / "custom-heads").glob("*/noise.json")).read_text())
    scored = rows(db, "SELECT failure_types, failure_scores FROM feedback_predictions")
    above = sum(json.loads(scores)["noise"] >= head["threshold"] for _, scores in scored)
    labelled = noise_items(db)
    assert labelled == above and labelled > 0
    assert rows(db, "SELECT count(DISTINCT custom_version) FROM predictions")[0][0] == 1

    predicted = predict(repo_root, project, tmp_path)
    assert "noise" in predicted[0]["failure_types"].split(";")
    assert "noise" not in predicted[1]["failure_types"].split(";")

    listed = list_row(repo_root, project, "noise")
    assert listed[:5] == ["noise", "custom", "yes", "product", "32 + 59"]
    assert listed[-1] == str(labelled) and float(listed[5]) >= 0.6
    assert list_row(repo_root, project, "staff_attitude")[1] == "builtin"

    # A second run reads nothing new, classifies and relabels nothing; trends and the report
    # show the new type.
    ok(mining(repo_root, project, "run"))
    last = rows(db, "SELECT classified, predictions_reused FROM runs "
                    "ORDER BY started_at DESC LIMIT 1")[0]
    assert last == (0, 0)
    assert rows(db, "SELECT count(*) FROM daily_trends WHERE failure_type = 'noise'")[0][0] > 0
    report = tmp_path / "report.html"
    ok(mining(repo_root, project, "report", "--out", str(report)))
    assert '"name":"noise"' in report.read_text(encoding="utf-8")

    refused = mining(repo_root, project, "types", "remove", "staff_attitude")
    assert refused.returncode == 2 and "built-in" in refused.stderr

    ok(mining(repo_root, project, "types", "remove", "noise"))
    assert "enabled: false" in taxonomy.read_text(encoding="utf-8")
    assert noise_items(db) == 0 and list_row(repo_root, project, "noise")[2] == "no"
    assert all("noise" not in json.loads(s) for (s,) in rows(
        db, "SELECT failure_scores FROM predictions"))
    assert "noise" not in predict(repo_root, project, tmp_path)[0]["failure_types"]
