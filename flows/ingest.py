"""Flow: read what is new from every configured source into feedback, complaints, quarantine."""

from __future__ import annotations

import logging
from dataclasses import asdict

from prefect import flow, task

from mining.params import RunParameters
from mining.pipeline import IngestCounts, ingest_source
from mining.settings import Settings
from mining.sources import SourceConfig, SourcesFile, build_source
from mining.store.db import Store

log = logging.getLogger("mining")


@task(name="ingest-source")
def ingest_one(params: RunParameters, config: SourceConfig, run_id: str,
               known_sites: list[str] | None,
               site_phone_regions: dict[str, list[str]] | None = None) -> IngestCounts:
    # The pseudonym key is read here, in the task, rather than passed as a parameter, so that it
    # never appears among the flow's recorded parameters.
    key = Settings().pseudonym_key.get_secret_value()
    with Store.open(params.db_path) as store:
        return ingest_source(
            store, build_source(config, params.ingest_batch_rows), config, run_id,
            known_sites=frozenset(known_sites) if known_sites is not None else None,
            max_text_chars=params.max_text_chars, pseudonym_key=key,
            site_phone_regions=site_phone_regions,
        )


@flow(name="ingest")
def ingest(params: RunParameters, run_id: str) -> dict[str, object]:
    # A source with a config error is reported by name and key and skipped; the others run.
    sources, config_errors = SourcesFile.load_each(params.sources_config)
    total = IngestCounts()
    for error in config_errors:
        log.error("%s", error)
        total.fail(error.source, str(error))
    for config in sources.sources:
        total.add(ingest_one(params, config, run_id, sources.sites, sources.site_phone_regions))
    return asdict(total)
