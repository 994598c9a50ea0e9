"""The whole pipeline at scale: N real-text rows through ingest, classify, aggregate, publish.

    .venv/bin/python bench/pipeline_scale.py [--rows 200000] [--workdir /tmp/radar-scale]

Rows are real review texts resampled from ../shared/data (hotel, restaurant, e-commerce reviews
and tweets, English and Chinese), each with its own id, one of 40 sites and a date spread over
90 days, written as CSV files of 10,000 rows into a folder source. `mining run` processes them
in a subprocess (the real command, the real model); the benchmark prints rows/s per stage from
the run's own stage timings, the peak memory of the run, and the database size. Then it runs
again on the unchanged folder: that run must do no model work. Figures go to
artifacts/pipeline_scale.json (and docs/scaling.md quotes them).

    .venv/bin/python bench/pipeline_scale.py --rows 20000 --ingest-stages

measures ingest alone, in this process and stage by stage (CPU seconds of this process, so
other work on the machine disturbs the figures less than wall time): reading the CSV files,
cleaning, redaction, content hash, language detection, the whole mapping, and the store (with
the wall time of each of its SQL statements).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import duckdb
import pandas as pd

from mining.machine import cpu_flags, describe_flags
from mining.settings import DEFAULT_BATCH_ROWS

T = TypeVar("T")
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


def ingest_stages(sources: Path, workdir: Path, batch_rows: int = DEFAULT_BATCH_ROWS
                  ) -> dict[str, float]:
    """Rows (or texts) per CPU second of each ingest stage, in process."""
    from mining import normalise, redact
    from mining.records import RecordContext, map_batch
    from mining.sources import SourcesFile, build_source
    from mining.sources.base import SourceBatch
    from mining.store.db import Store, utcnow

    loaded, _ = SourcesFile.load_each(sources)
    config = loaded.sources[0]
    rates: dict[str, float] = {}

    def clock(name: str, step: Callable[[], T], count: int | None = None) -> T:
        started = time.process_time()
        out = step()
        seconds = time.process_time() - started
        if count is None:  # the read step: count what it read
            count = sum(len(batch.rows) for batch in cast(list[SourceBatch], out))
        rates[name] = round(count / seconds, 1) if seconds else float("inf")
        print(f"  {name:30s} {seconds:6.2f} s cpu {rates[name]:>10,.0f} rows/s")
        return out

    batches = clock("read files", lambda: list(build_source(config, batch_rows).read({})))
    raw = [str(row.data[config.mapping.text or ""]) for b in batches for row in b.rows if row.data]
    n = len(raw)
    cleaned = clock("clean_text", lambda: [normalise.clean_text(t) for t in raw], n)
    redacted = clock("redact", lambda: [redact.redact(t) for t in cleaned], n)
    clock("content_hash", lambda: [normalise.content_hash(t) for t in redacted], n)
    clock("language: load langid (once)", lambda: normalise.detect_language("load the model"), n)
    clock("language: detect", lambda: normalise.detect_languages(redacted), n)
    ctx = RecordContext(config.name, config.kind, config.mapping, config.require_text,
                        frozenset(loaded.sites or []), 20_000, "bench-key-" + "0" * 22,
                        tuple(config.phone_regions))
    now = utcnow()
    mapped = clock("map rows (all of the above)",
                   lambda: [map_batch(b.rows, ctx, "bench", now) for b in batches], n)
    db = workdir / "ingest_stages.duckdb"

    spent: collections.Counter[str] = collections.Counter()

    def store() -> None:
        with Store.open(db) as target:
            target.con = TimedConnection(target.con, spent)  # type: ignore[assignment]
            for batch in mapped:
                with target.transaction():
                    target.upsert_items("feedback", batch.items, config.fields_that_may_change())
                    target.insert_arrow("quarantine", batch.quarantine)

    clock("store (upsert and commit)", store, n)
    print("  the store's statements, wall seconds:")
    for statement, seconds in spent.most_common(6):
        print(f"    {seconds:7.2f} s  {statement}")
    rates |= whole_ingest(config, ctx, workdir, batch_rows, len(raw))
    return rates


def whole_ingest(config: Any, ctx: Any, workdir: Path, batch_rows: int, n: int
                 ) -> dict[str, float]:
    """Wall time of the whole ingest into a new DuckDB file, two ways in one run: each batch
    read, mapped and stored in turn, and `ingest_source` (the next batch read and mapped in a
    thread while the store writes the current one)."""
    from mining.pipeline import ingest_source
    from mining.records import map_batch
    from mining.sources import build_source
    from mining.store.db import Store, utcnow

    def in_turn(store: Store) -> None:
        for batch in build_source(config, batch_rows).read(store.source_state(config.name)):
            mapped = map_batch(batch.rows, ctx, "bench", utcnow())
            with store.transaction():
                store.upsert_items("feedback", mapped.items, config.fields_that_may_change())
                store.insert_arrow("quarantine", mapped.quarantine)
                store.set_source_state(config.name, batch.state, "bench")

    def overlapped(store: Store) -> None:
        ingest_source(store, build_source(config, batch_rows), config, "bench",
                      known_sites=ctx.known_sites, max_text_chars=ctx.max_text_chars,
                      pseudonym_key=ctx.pseudonym_key)

    rates = {}
    for name, run in (("whole ingest, in turn", in_turn),
                      ("whole ingest, ingest_source", overlapped)):
        db = workdir / "whole_ingest.duckdb"
        db.unlink(missing_ok=True)
        with Store.open(db) as store:
            started = time.perf_counter()
            run(store)
            seconds = time.perf_counter() - started
            stored = store.con.execute("SELECT count(*) FROM feedback").fetchone()[0]
        rates[name] = round(n / seconds, 1)
        print(f"  {name:30s} {seconds:6.2f} s wall {rates[name]:>10,.0f} rows/s "
              f"({stored:,} rows stored)")
    print(f"  ingest_source against in turn: "
          f"{rates['whole ingest, ingest_source'] / rates['whole ingest, in turn']:.2f}x")
    return rates


class TimedConnection:
    """A DuckDB connection whose `execute` sums each statement's wall time by its start."""

    def __init__(self, real: Any, spent: collections.Counter[str]) -> None:
        self.real, self.spent = real, spent

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def execute(self, sql: str, *args: Any) -> Any:
        started = time.perf_counter()
        out = self.real.execute(sql, *args)
        self.spent[" ".join(sql.split())[:60]] += time.perf_counter() - started
        return out


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
    row = con.execute("SELECT rows_read, classified, stage_seconds, "
                      "epoch(finished_at) - epoch(started_at) FROM runs "
                      "ORDER BY started_at DESC LIMIT 1").fetchone()
    con.close()
    assert row is not None
    # flow_seconds: the run as the store records it, without starting Python, importing and
    # booting Prefect's temporary server (a fixed cost of each `mining run` process).
    return {"wall_seconds": round(seconds, 1), "flow_seconds": round(float(row[3]), 1),
            "rows_read": row[0], "classified": row[1],
            "stage_seconds": {k: round(v, 2) for k, v in json.loads(row[2]).items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/radar-scale"))
    parser.add_argument("--json", type=Path, default=Path("artifacts/pipeline_scale.json"))
    parser.add_argument("--ingest-stages", action="store_true",
                        help="measure ingest alone, stage by stage, in process; no mining run")
    args = parser.parse_args()
    if args.workdir.exists() and any(args.workdir.iterdir()):
        raise SystemExit(f"{args.workdir} is not empty: choose a new --workdir")
    folder = args.workdir / "inbox"
    distinct = generate(args.rows, args.shared, folder)
    sources = args.workdir / "sources.yaml"
    sources_config(folder, sources)
    print(f"{args.rows} rows ({distinct} distinct texts) in {folder}; "
          f"{os.cpu_count()} cores, CPU flags: {describe_flags(cpu_flags())}")
    if args.ingest_stages:
        ingest_stages(sources, args.workdir)
        return
    first = run(args.workdir, sources)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    second = run(args.workdir, sources)
    if second["classified"]:
        raise SystemExit(f"the rerun on unchanged input classified {second['classified']} "
                         "texts: it must do no model work")
    stages = first["stage_seconds"]
    assert isinstance(stages, dict)
    per_stage = {name: round(args.rows / s, 1) if s else None for name, s in stages.items()}
    result = {
        "date": time.strftime("%Y-%m-%d"), "rows": args.rows, "distinct_texts": distinct,
        "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, "
                   f"{describe_flags(cpu_flags())}",
        "first_run": first, "rows_per_second_by_stage": per_stage,
        "peak_memory_mib": round(peak_mib), "rerun": second,
        "rerun_share_of_first": round(float(second["wall_seconds"])  # type: ignore[arg-type]
                                      / float(first["wall_seconds"]), 3),  # type: ignore[arg-type]
        "rerun_flow_share_of_first": round(float(second["flow_seconds"])  # type: ignore[arg-type]
                                           / float(first["flow_seconds"]), 3),  # type: ignore[arg-type]
        "database_mib": round((args.workdir / "radar.duckdb").stat().st_size / 2**20, 1),
    }
    for name, value in per_stage.items():
        print(f"{name:10s} {stages[name]:8.1f} s   {value} rows/s")
    print(f"peak memory {result['peak_memory_mib']} MiB, database {result['database_mib']} MiB")
    print(f"rerun on unchanged input: {second['wall_seconds']} s "
          f"({result['rerun_share_of_first']:.1%} of the first), "
          f"classified {second['classified']}; "
          f"in the flow {second['flow_seconds']} s of {first['flow_seconds']} s "
          f"({result['rerun_flow_share_of_first']:.1%}), the rest is process and Prefect start-up")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
