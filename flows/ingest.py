"""Flow: read what is new from every configured source into feedback, complaints, quarantine."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, task

from mining.params import RunParameters
from mining.pipeline import IngestCounts, ingest_source
from mining.sources import SourceConfig, SourcesFile, build_source
from mining.store.db import Store


@task(name="ingest-source")
def ingest_one(params: RunParameters, config: SourceConfig, run_id: str,
               known_sites: list[str] | None) -> IngestCounts:
    with Store.open(params.db_path) as store:
        return ingest_source(
            store, build_source(config, params.ingest_batch_rows), config, run_id,
            known_sites=frozenset(known_sites) if known_sites is not None else None,
            max_text_chars=params.max_text_chars,
        )


@flow(name="ingest")
def ingest(params: RunParameters, run_id: str) -> dict[str, object]:
    sources = SourcesFile.load(params.sources_config)
    total = IngestCounts()
    for config in sources.sources:
        total.add(ingest_one(params, config, run_id, sources.sites))
    return asdict(total)
