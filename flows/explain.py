"""Flow: explain the items the report shows (the words behind each top failure type).

Runs after aggregate (the silent items are known) and before alerts; alerts explain their own
example items when they choose them. Items explained before for the same text and model are
reused, so a rerun costs no model work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from prefect import flow

from mining.classify.explain import (
    catch_all_types,
    explain_stored,
    report_item_ids,
    stored_why_lines,
)
from mining.classify.model import FeedbackClassifier, default_model_path
from mining.fanout import cached_classifier, worker_threads
from mining.params import RunParameters
from mining.store.db import Store
from mining.taxonomy import Taxonomy


def classifier_loader(params: RunParameters) -> Callable[[], FeedbackClassifier]:
    """Loads the run's classifier on first use (the same cached instance classify used)."""
    model_dir = str((params.model_path or default_model_path(params.models_dir)).resolve())
    threads = worker_threads(params)
    return lambda: cached_classifier(model_dir, threads)


@flow(name="explain")
def explain(params: RunParameters, run_id: str) -> dict[str, object]:
    taxonomy = Taxonomy.load(params.taxonomy_path)
    with Store.open(params.db_path) as store:
        counts = explain_stored(
            store, classifier_loader(params), report_item_ids(store), run_id,
            skip_types=catch_all_types(taxonomy), batch_size=params.classify_batch_size,
            taxonomy=taxonomy)
    return asdict(counts)


def alert_explainer(params: RunParameters,
                    run_id: str) -> Callable[[Store, list[str]], dict[str, str]]:
    """For the alerts: explain the example items an alert chooses, return their why lines."""
    load = classifier_loader(params)
    taxonomy = Taxonomy.load(params.taxonomy_path)
    skip = catch_all_types(taxonomy)

    def explain_examples(store: Store, item_ids: list[str]) -> dict[str, str]:
        explain_stored(store, load, item_ids, run_id, skip_types=skip,
                       batch_size=params.classify_batch_size, taxonomy=taxonomy)
        return stored_why_lines(store, item_ids)

    return explain_examples
