"""The whole pipeline at scale: N real-text rows through ingest, classify, aggregate, publish.

    .venv/bin/python bench/pipeline_scale.py [--rows 200000] [--workdir /tmp/radar-scale]

Rows are real review texts resampled from ../shared/data (hotel, restaurant, e-commerce reviews
and tweets, English and Chinese), each with its own id, one of 40 sites and a date spread over
90 days, written as CSV files of 10,000 rows into a folder source. `mining run` processes them
in a subprocess (the real command, the real model); the benchmark prints rows/s per stage from
the run's own stage timings, the peak memory of the run, and the database size. Then it runs
again on the unchanged folder: that run must do no model work. Figures go to
artifacts/pipeline_scale.json (and docs/scaling.md quotes them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

SITES = [f"Site {n:02d}" for n in range(1, 41)]
FILE_ROWS = 10_000


def real_texts(shared: Path) -> list[str]:
    """Every usable review text of the shared sets the corpus draws from (deduplicated)."""
    texts: list[str] = []
    for name in ("datafiniti_hotels", "booking_hotels", "yelp_restaurants",
                 "zomato_hyderabad_restaurants", "flipkart_product_reviews",
                 "zh_dianping_small"):
        texts += pd.read_csv(shared / name / "reviews.csv", dtype=str)["text"].dropna().tolist()
    texts += pd.read_csv(shared / "chnsenticorp_hotel" / "reviews.csv")["review"].dropna(
        ).astype(str).tolist()
    texts += pd.read_csv(shared / "chinese_online_shopping" / "reviews.csv")["review"].dropna(
        ).astype(str).tolist()
    texts += pd.read_csv(shared / "airline_tweets" / "tweets.csv")["text"].dropna().tolist()
    return list(dict.fromkeys(t.strip() for t in texts if len(t.strip()) >= 8))


def generate(rows: int, shared: Path, folder: Path, seed: int = 7) -> int:
    """Write `rows` rows as CSV files; returns how many distinct texts they hold."""
    rng = random.Random(seed)
    pool = real_texts(shared)
    folder.mkdir(parents=True, exist_ok=True)
    start = pd.Timestamp("2026-06-01")
    used: set[str] = set()
    for number, first in enumerate(range(0, rows, FILE_ROWS)):
        count = min(FILE_ROWS, rows - first)
        texts = [rng.choice(pool) for _ in range(count)]
        used.update(texts)
        frame = pd.DataFrame({
            "review_id": [f"r{first + i:08d}" for i in range(count)],
            "site": [rng.choice(SITES) for _ in range(count)],
            "created_at": [(start + pd.Timedelta(minutes=rng.randrange(90 * 24 * 60))
                            ).strftime("%Y-%m-%d %H:%M") for _ in range(count)],
            "rating": [rng.randint(1, 5) for _ in range(count)],
            "text": texts,
        })
        frame.to_csv(folder / f"reviews_{number:03d}.csv", index=False)
    return len(used)


def sources_config(folder: Path, path: Path) -> None:
    path.write_text(json.dumps({
        "sites": SITES,
        "sources": [{"name": "scale_reviews", "kind": "feedback", "type": "folder",
                     "path": str(folder), "patterns": ["*.csv"],
                     "mapping": {"text": "text", "created_at": "created_at",
                                 "created_at_formats": ["%Y-%m-%d %H:%M"], "site": "site",
                                 "external_id": "review_id", "rating": "rating",
                                 "channel_value": "reviews"}}],
    }), encoding="utf-8")  # JSON is YAML


def run(workdir: Path, sources: Path) -> dict[str, object]:
    env = {**os.environ, "PREFECT_HOME": str(workdir / "prefect-home"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mining.cli", "run", "--sources", str(sources),
         "--db", str(workdir / "radar.duckdb"), "--read-copy", str(workdir / "radar_read.duckdb")],
        capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mining run failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    con = duckdb.connect(str(workdir / "radar_read.duckdb"), read_only=True)
    row = con.execute("SELECT rows_read, classified, stage_seconds FROM runs "
                      "ORDER BY started_at DESC LIMIT 1").fetchone()
    con.close()
    assert row is not None
    return {"wall_seconds": round(seconds, 1), "rows_read": row[0], "classified": row[1],
            "stage_seconds": {k: round(v, 2) for k, v in json.loads(row[2]).items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/radar-scale"))
    parser.add_argument("--json", type=Path, default=Path("artifacts/pipeline_scale.json"))
    args = parser.parse_args()
    if args.workdir.exists() and any(args.workdir.iterdir()):
        raise SystemExit(f"{args.workdir} is not empty: choose a new --workdir")
    folder = args.workdir / "inbox"
    distinct = generate(args.rows, args.shared, folder)
    sources = args.workdir / "sources.yaml"
    sources_config(folder, sources)
    print(f"{args.rows} rows ({distinct} distinct texts) in {folder}")
    first = run(args.workdir, sources)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    second = run(args.workdir, sources)
    stages = first["stage_seconds"]
    assert isinstance(stages, dict)
    per_stage = {name: round(args.rows / s, 1) if s else None for name, s in stages.items()}
    result = {
        "date": time.strftime("%Y-%m-%d"), "rows": args.rows, "distinct_texts": distinct,
        "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}",
        "first_run": first, "rows_per_second_by_stage": per_stage,
        "peak_memory_mib": round(peak_mib), "rerun": second,
        "rerun_share_of_first": round(float(second["wall_seconds"])  # type: ignore[arg-type]
                                      / float(first["wall_seconds"]), 3),  # type: ignore[arg-type]
        "database_mib": round((args.workdir / "radar.duckdb").stat().st_size / 2**20, 1),
    }
    for name, value in per_stage.items():
        print(f"{name:10s} {stages[name]:8.1f} s   {value} rows/s")
    print(f"peak memory {result['peak_memory_mib']} MiB, database {result['database_mib']} MiB")
    print(f"rerun on unchanged input: {second['wall_seconds']} s "
          f"({result['rerun_share_of_first']:.1%} of the first), classified {second['classified']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
