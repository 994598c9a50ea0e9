"""The batch pipeline's steps as plain functions: ingest, classify, aggregate, publish.

Each step commits in short transactions keyed by stable ids, so a run killed at any point and
started again ends with the same rows as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa

from mining.classify.features import text_key
from mining.classify.taxonomy_model import TaxonomyClassifier, relabel_scores
from mining.progress import progress_bar
from mining.readahead import read_ahead
from mining.records import RecordContext, map_batch
from mining.settings import DEMO_PSEUDONYM_KEY, Settings
from mining.sources import Source, SourceConfig, SourceError
from mining.store.db import Store, utcnow
from mining.taxonomy import Taxonomy

log = logging.getLogger("mining")


class PredictionLike(Protocol):
    sentiment: str
    sentiment_score: float
    failure_types: list[str]
    failure_scores: dict[str, float]
    responses: list[str]
    response_scores: dict[str, float]


class Classifier(Protocol):
    """What the pipeline needs of a model: a version and batched prediction."""

    @property
    def version(self) -> str: ...

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> Sequence[PredictionLike]: ...


def new_run_id() -> str:
    return f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


@dataclass
class IngestCounts:
    """What ingest did with the rows it read.

    rows_read = added + updated + quarantined + duplicates, where updated counts stored records
    that a newer version changed and duplicates counts rows already stored as they are (or
    repeated within one batch).
    """

    rows_read: int = 0
    feedback_added: int = 0
    complaints_added: int = 0
    feedback_updated: int = 0
    complaints_updated: int = 0
    quarantined: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    failed_sources: list[str] = field(default_factory=list)

    def add(self, other: IngestCounts) -> None:
        for name in ("rows_read", "feedback_added", "complaints_added", "feedback_updated",
                     "complaints_updated", "quarantined", "duplicates"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)
        self.failed_sources.extend(s for s in other.failed_sources
                                   if s not in self.failed_sources)

    def fail(self, source: str, message: str) -> None:
        """Record that `source` could not be read (fully); the run goes on with the others."""
        self.errors.append(message)
        if source not in self.failed_sources:
            self.failed_sources.append(source)


def ingest_source(store: Store, source: Source, config: SourceConfig, run_id: str, *,
                  known_sites: frozenset[str] | None, max_text_chars: int,
                  pseudonym_key: str | None = None,
                  site_phone_regions: Mapping[str, Sequence[str]] | None = None) -> IngestCounts:
    """Read what is new from one source; each batch and its source state commit together.

    A row for a record already stored updates the fields the source declares updatable
    (`updatable_fields`, with defaults per kind) when they differ; the old version stays in the
    history table. An edited text changes the content hash, so classification reads it again.

    `pseudonym_key` keys the customer-id pseudonyms; when not given it is read from
    `Settings()` now, at call time.
    """
    if pseudonym_key is None:
        pseudonym_key = Settings().pseudonym_key.get_secret_value()
    if pseudonym_key == DEMO_PSEUDONYM_KEY:
        log.warning("customer ids are pseudonymised with the public demo key; "
                    "set MINING_PSEUDONYM_KEY to a secret of your own")
    ctx = RecordContext(
        config.name, config.kind, config.mapping, config.require_text, known_sites,
        max_text_chars, pseudonym_key=pseudonym_key, phone_regions=tuple(config.phone_regions),
        site_phone_regions={site: tuple(regions)
                            for site, regions in (site_phone_regions or {}).items()},
    )
    table = "feedback" if config.kind == "feedback" else "complaints"
    fields = config.fields_that_may_change()
    counts = IngestCounts()
    try:
        state = store.source_state(config.name)
        # Batch N+1 is read and mapped in a thread while DuckDB stores batch N.
        with closing(read_ahead(
                lambda: ((batch, map_batch(batch.rows, ctx, run_id, utcnow()))
                         for batch in source.read(state)),
                name=f"ingest-{config.name}")) as mapped_batches:
            for batch, mapped in mapped_batches:
                with store.transaction():
                    added, updated = store.upsert_items(table, mapped.items, fields)
                    quarantined = store.insert_arrow("quarantine", mapped.quarantine)
                    store.set_source_state(config.name, batch.state, run_id)
                counts.rows_read += len(batch.rows)
                counts.quarantined += quarantined
                counts.duplicates += (len(batch.rows) - added - updated - quarantined)
                if config.kind == "feedback":
                    counts.feedback_added += added
                    counts.feedback_updated += updated
                else:
                    counts.complaints_added += added
                    counts.complaints_updated += updated
    except (SourceError, FileNotFoundError) as exc:
        # A source that cannot be read is reported, and the other sources still run. What its
        # committed batches stored stays; its state moved only with them.
        log.error("source %s failed: %s", config.name, exc)
        counts.fail(config.name, f"{config.name}: {exc}")
    except Exception as exc:  # noqa: BLE001 - one source's fault must not stop the others
        log.exception("source %s failed unexpectedly", config.name)
        counts.fail(config.name, f"{config.name}: unexpected {type(exc).__name__}: {exc}")
    log.info("source %s: read %d, new feedback %d, new complaints %d, updated %d, "
             "quarantined %d, already stored %d", config.name, counts.rows_read,
             counts.feedback_added, counts.complaints_added,
             counts.feedback_updated + counts.complaints_updated, counts.quarantined,
             counts.duplicates)
    return counts


@dataclass
class ClassifyCounts:
    pending: int = 0
    classified: int = 0
    reused: int = 0


def _score_json(scores: dict[str, float]) -> str:
    return json.dumps({k: round(float(v), 6) for k, v in scores.items()}, sort_keys=True)


PREDICTION_SCHEMA = pa.schema([
    ("item_id", pa.string()), ("model_version", pa.string()), ("item_kind", pa.string()),
    ("content_hash", pa.string()), ("sentiment", pa.string()), ("sentiment_score", pa.float64()),
    ("failure_types", pa.list_(pa.string())), ("failure_scores", pa.string()),
    ("responses", pa.list_(pa.string())), ("response_scores", pa.string()),
    ("run_id", pa.string()), ("predicted_at", pa.timestamp("us")),
    ("custom_version", pa.string()),
])


PredictMany = Callable[[list[str]], Sequence[PredictionLike]]
EncodeMany = Callable[[list[str]], np.ndarray]


def classify_pending(store: Store, classifier: Classifier, run_id: str, *, chunk_size: int = 512,
                     batch_size: int = 32, predict_many: PredictMany | None = None,
                     encode_many: EncodeMany | None = None) -> ClassifyCounts:
    """Classify items that lack a prediction of their current text for this model version.

    An item whose text was edited (its content hash changed) is pending again, and its new
    prediction replaces the stale one. A text whose hash already has a prediction for this
    version (and these custom heads) is copied, never re-run, and identical texts within a
    chunk go through the model once. `predict_many` may fan the texts of a chunk out (to
    threads or a Dask cluster); this function stays the single writer.

    A `TaxonomyClassifier` is fed pooled features instead: texts in its feature cache are not
    encoded again, `encode_many` (which may fan out) encodes the others, and their vectors are
    added to the cache here, by the single writer.
    """
    version = classifier.version
    by_features = isinstance(classifier, TaxonomyClassifier)
    custom = classifier.custom_version if isinstance(classifier, TaxonomyClassifier) else ""
    if predict_many is None:
        def predict_many(texts: list[str]) -> Sequence[PredictionLike]:
            if isinstance(classifier, TaxonomyClassifier):
                return classifier.predict_features(classifier.features(texts, encode_many),
                                                   texts)
            return classifier.predict(texts, batch_size=batch_size)
    elif by_features:
        raise ValueError("a TaxonomyClassifier takes encode_many, not predict_many")
    pending = store.query("pending_classification", [version]).to_pylist()
    counts = ClassifyCounts(pending=len(pending))
    if not pending:
        log.info("classify: nothing new for model %s", version)
        return counts
    with progress_bar(len(pending), f"classifying with {version}") as advance:
        for start in range(0, len(pending), chunk_size):
            chunk = pending[start:start + chunk_size]
            hashes = sorted({item["content_hash"] for item in chunk})
            known = {row["content_hash"]: row for row in
                     store.query("known_predictions", [version, hashes, custom]).to_pylist()}
            new_texts: dict[str, str] = {}
            for item in chunk:
                if item["content_hash"] not in known:
                    new_texts.setdefault(item["content_hash"], item["text"])
            predictions = predict_many(list(new_texts.values())) if new_texts else []
            for text_hash, prediction in zip(new_texts, predictions, strict=True):
                known[text_hash] = {
                    "sentiment": prediction.sentiment,
                    "sentiment_score": float(prediction.sentiment_score),
                    "failure_types": list(prediction.failure_types),
                    "failure_scores": _score_json(prediction.failure_scores),
                    "responses": list(prediction.responses),
                    "response_scores": _score_json(prediction.response_scores),
                }
            now = utcnow()
            rows = []
            for item in chunk:
                found = known[item["content_hash"]]
                rows.append({
                    "item_id": item["item_id"], "model_version": version,
                    "item_kind": item["item_kind"], "content_hash": item["content_hash"],
                    **{k: found[k] for k in ("sentiment", "sentiment_score", "failure_types",
                                              "failure_scores", "responses", "response_scores")},
                    "run_id": run_id, "predicted_at": now, "custom_version": custom,
                })
            with store.transaction():
                store.insert_arrow("predictions",
                                   pa.Table.from_pylist(rows, schema=PREDICTION_SCHEMA),
                                   on_conflict="replace")
            counts.classified += len(new_texts)
            counts.reused += len(chunk) - len(new_texts)
            advance(len(chunk))
    log.info("classify: %d items, %d texts through the model, %d predictions reused",
             counts.pending, counts.classified, counts.reused)
    return counts


@dataclass
class RelabelCounts:
    items: int = 0
    encoded: int = 0  # texts that were not in the feature cache
    seconds: float = 0.0


def relabel_custom_types(store: Store, classifier: TaxonomyClassifier, *,
                         chunk_size: int = 50_000,
                         encode_many: EncodeMany | None = None) -> RelabelCounts:
    """Give the stored predictions of the current model version the current custom types.

    Only rows whose `custom_version` differs are read; their scores come from cached pooled
    features (texts missing from the cache are encoded, and logged), built-in types are kept
    as stored, and the rows are written back through Arrow.
    """
    started = time.perf_counter()
    custom = classifier.custom_version
    pending = store.query("custom_relabel_pending", [classifier.version, custom])
    counts = RelabelCounts(items=pending.num_rows)
    if not pending.num_rows:
        return counts
    builtin = set(classifier.builtin_ids)
    thresholds = {name: head.threshold for name, head in classifier.heads.items()}
    for start in range(0, pending.num_rows, chunk_size):
        chunk = pending.slice(start, chunk_size)
        texts = chunk.column("text").to_pylist()
        scores: dict[str, np.ndarray] = {}
        if classifier.heads:
            cached = classifier.cache.vectors if classifier.cache is not None else {}
            missing = len({text_key(t) for t in texts} - cached.keys())
            if missing:
                log.info("relabel: %d stored texts are not in the feature cache; encoding them",
                         missing)
            counts.encoded += missing
            scores = classifier.custom_scores(classifier.features(texts, encode_many))
        types_out, scores_out = [], []
        for row, (stored_types, stored_json) in enumerate(zip(
                chunk.column("failure_types").to_pylist(),
                chunk.column("failure_scores").to_pylist(), strict=True)):
            new_types, new_scores = relabel_scores(
                stored_types, json.loads(stored_json), builtin, classifier.taxonomy,
                {name: float(column[row]) for name, column in scores.items()}, thresholds)
            types_out.append(new_types)
            scores_out.append(_score_json(new_scores))
        table = chunk.drop_columns(["text", "failure_types", "failure_scores"])
        table = table.append_column("failure_types", pa.array(types_out, pa.list_(pa.string())))
        table = table.append_column("failure_scores", pa.array(scores_out, pa.string()))
        table = table.append_column("custom_version", pa.array([custom] * chunk.num_rows,
                                                               pa.string()))
        with store.transaction():
            store.insert_arrow("predictions", table, on_conflict="replace")
    counts.seconds = time.perf_counter() - started
    log.info("relabel: %d stored predictions given custom types %s in %.1f s (%d texts "
             "encoded)", counts.items, ", ".join(classifier.heads) or "(none)", counts.seconds,
             counts.encoded)
    return counts


def rename_stored_types(store: Store, taxonomy: Taxonomy) -> int:
    """Rewrite stored predictions that still name old ids (aliases) under the current ids, so
    a renamed or merged type keeps its history and trends; returns the rows rewritten."""
    aliases = list(taxonomy.aliases)
    if not aliases:
        return 0
    stored = store.query("predictions_with_failure_ids", [aliases])
    rows = stored.to_pylist()
    for row in rows:
        types, scores = taxonomy.current_labels(row["failure_types"],
                                                json.loads(row["failure_scores"]))
        row["failure_types"], row["failure_scores"] = types, _score_json(scores)
    if rows:
        store.insert_arrow("predictions", pa.Table.from_pylist(rows, schema=stored.schema),
                           on_conflict="replace")
        log.info("renamed old failure-type ids in %d stored predictions", len(rows))
    return len(rows)


def refresh_aggregates(store: Store, taxonomy: Taxonomy) -> int:
    """Reload root causes from the taxonomy and rebuild daily_trends; returns its row count."""
    mapping = pa.table({
        "failure_type": taxonomy.failure_type_ids,
        "root_cause": [taxonomy.root_cause_of(t) for t in taxonomy.failure_type_ids],
        "description": [taxonomy.failure_types[t].description for t in taxonomy.failure_type_ids],
    })
    with store.transaction():
        rename_stored_types(store, taxonomy)
        store.execute("DELETE FROM failure_type_root_causes")
        store.insert_arrow("failure_type_root_causes", mapping)
        store.run_script("rebuild_daily_trends")
    return store.count("daily_trends")


def record_counts(ingest: IngestCounts, classify: ClassifyCounts) -> dict[str, int]:
    counts = {k: v for k, v in asdict(ingest).items() if k not in ("errors", "failed_sources")}
    counts.update(classified=classify.classified, predictions_reused=classify.reused)
    return counts


# -- skipping derived stages on unchanged input ------------------------------------------------
PENDING = "pending:"
SUCCEEDED = ("succeeded", "succeeded_with_errors")


def derived_inputs(store: Store, config_files: Sequence[Path], model_version: str,
                   custom_version: str) -> str:
    """A digest of what aggregate, themes and explain read: the store's records and
    predictions, their configuration files and the model. Equal digests mean those stages
    would rebuild the same tables."""
    digest = hashlib.sha256()
    marker = store.fetch_rows("store_marker")[0]
    digest.update(json.dumps([str(v) for v in marker] + [model_version, custom_version]).encode())
    for path in config_files:
        digest.update(str(path).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"(absent)")
    return digest.hexdigest()[:32]


def derived_stages_current(store: Store, inputs: str) -> bool:
    """True when the newest run that began the derived stages read the same inputs and
    finished; a run killed in them (still `pending:`) or that failed leaves them to redo."""
    rows = store.fetch_rows("last_derived_inputs")
    return bool(rows) and rows[0][0] == inputs and rows[0][1] in SUCCEEDED



def mark_derived_inputs(store: Store, run_id: str, inputs: str, *, done: bool) -> None:
    store.run_script("set_derived_inputs", [run_id, inputs if done else PENDING + inputs])
