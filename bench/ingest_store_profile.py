"""Where ingest's store time goes: each SQL statement of `upsert_items` timed at scale.

    .venv/bin/python bench/ingest_store_profile.py --rows 100000 [--shared ../shared/data]

Generates rows as `bench/pipeline_scale.py` does, maps them (`map_batch`, timed in CPU
seconds), then stores them batch by batch in a new DuckDB file with every statement timed.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import pipeline_scale  # noqa: E402

from mining.records import RecordContext, map_batch  # noqa: E402
from mining.sources import SourcesFile, build_source  # noqa: E402
from mining.store.db import Store, utcnow  # noqa: E402


class TimedConnection:
    """The store's connection, with the wall time of each statement summed by its start."""

    def __init__(self, real: Any, spent: collections.Counter[str]) -> None:
        self.real, self.spent = real, spent

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def execute(self, sql: str, *args: Any) -> Any:
        started = time.perf_counter()
        out = self.real.execute(sql, *args)
        self.spent[" ".join(sql.split())[:60]] += time.perf_counter() - started
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/radar-store-profile"))
    args = parser.parse_args()
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    folder = args.workdir / "inbox"
    pipeline_scale.generate(args.rows, args.shared, folder)
    pipeline_scale.sources_config(folder, args.workdir / "sources.yaml")
    print(f"{args.rows} rows; CPU flags: {pipeline_scale.cpu_flags()}")
    loaded, _ = SourcesFile.load_each(args.workdir / "sources.yaml")
    config = loaded.sources[0]
    batches = list(build_source(config, 5_000).read({}))
    ctx = RecordContext(config.name, config.kind, config.mapping, config.require_text,
                        frozenset(loaded.sites or []), 20_000, "bench-key-" + "0" * 22, ())
    now = utcnow()
    started = time.process_time()
    mapped = [map_batch(b.rows, ctx, "bench", now) for b in batches]
    seconds = time.process_time() - started
    print(f"map_batch: {seconds:.2f} CPU s, {args.rows / seconds:,.0f} rows/s")
    spent: collections.Counter[str] = collections.Counter()
    with Store.open(args.workdir / "profile.duckdb") as store:
        store.con = TimedConnection(store.con, spent)  # type: ignore[assignment]
        started = time.perf_counter()
        for batch in mapped:
            with store.transaction():
                store.upsert_items("feedback", batch.items, config.fields_that_may_change())
                store.insert_arrow("quarantine", batch.quarantine)
        seconds = time.perf_counter() - started
    print(f"store: {seconds:.2f} s wall, {args.rows / seconds:,.0f} rows/s")
    for statement, total in spent.most_common(8):
        print(f"  {total:7.2f} s  {statement}")


if __name__ == "__main__":
    main()
