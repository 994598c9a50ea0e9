"""`mining types add | list | remove`: custom failure types a business adds from examples."""

from __future__ import annotations

import csv
import json
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from mining.settings import Settings
    from mining.taxonomy import Taxonomy

types_app = typer.Typer(help="Failure types: add a custom type from examples, list, remove.",
                        no_args_is_help=True)
_TYPE_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# The held-out set whose per-type precision and recall `types list` shows for built-in types.
METRICS_SET = "corpus_test"


def _model_dir(settings: Settings) -> Path:
    from mining.classify.model import default_model_path

    return settings.model_path or default_model_path(settings.models_dir)


def _load_taxonomy(path: Path) -> Taxonomy:
    from mining.cli import fail
    from mining.taxonomy import Taxonomy

    try:
        return Taxonomy.load(path)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))


def _relabel(settings: Settings, command: str) -> None:
    """Relabel stored history under the run lock, when there is a working store."""
    from mining.classify.taxonomy_model import TaxonomyClassifier
    from mining.cli import console, run_lock
    from mining.pipeline import relabel_custom_types
    from mining.store.db import Store

    db = settings.db_path
    if not db.is_file():
        console.print(f"No store at {db}: nothing to relabel; the next run labels what it reads.")
        return
    with run_lock(db, command, "; the taxonomy is saved and the next run relabels history"):
        classifier = TaxonomyClassifier.load(_model_dir(settings), settings.taxonomy_path,
                                             settings.custom_heads_dir,
                                             settings.features_dir, settings.torch_threads)
        with Store.open(db) as store:
            counts = relabel_custom_types(store, classifier)
    console.print(f"History relabelled: {counts.items} stored predictions of "
                  f"{classifier.version} in {counts.seconds:.1f} s ({counts.encoded} texts "
                  "were not in the feature cache and were encoded)")


def _theme_examples(settings: Settings, theme_id: str, target: Path) -> Path:
    """Write a theme's items as examples (label 1 and the counter-examples the themes module
    gives) for the analyst to review."""
    from mining.cli import fail, run_lock
    from mining.store.db import Store

    try:
        from mining.analysis.themes import theme_examples
    except ImportError:
        fail("--from-theme needs mining.analysis.themes.theme_examples, which this checkout "
             "does not have yet")
    db = settings.db_path
    if not db.is_file():
        fail(f"no store at {db}: themes come from a run (`mining run`)")
    with run_lock(db, "types add --from-theme"), Store.open(db) as store:
        try:
            rows = theme_examples(store, theme_id)
        except KeyError:
            fail(f"no theme {theme_id!r}; see the emerging_themes view")
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([text, int(label)] for text, label in rows)
    return target


@types_app.command("add")
def add(
    type_id: Annotated[str, typer.Argument(metavar="ID", help="New id, snake_case.")],
    root_cause: Annotated[str, typer.Option("--root-cause", help="A root cause id.")],
    description: Annotated[str, typer.Option(help="What the type means, for analysts.")],
    examples: Annotated[Path | None, typer.Option(
        help="CSV with columns text,label (1 = the type, 0 = a counter-example).")] = None,
    from_theme: Annotated[str | None, typer.Option(
        "--from-theme", help="Take the examples from an emerging theme (written to the "
                             "examples CSV for review).")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Enable even if cross-validated precision is below 0.6.")] = False,
) -> None:
    """Add a custom failure type: fit its head on the model's features of the examples, write
    it into the taxonomy (kind: custom) and relabel stored history."""
    from mining.classify.custom import (
        ExamplesError,
        HeadRejected,
        check_precision,
        examples_features,
        fit_head,
        heads_folder,
        read_examples,
    )
    from mining.classify.features import FeatureCache, file_digest
    from mining.classify.model import ONNX_FILE, FeedbackClassifier
    from mining.cli import console, fail
    from mining.settings import Settings
    from mining.taxonomy import TaxonomyMismatch, write_custom_type

    settings = Settings()
    taxonomy = _load_taxonomy(settings.taxonomy_path)
    if (examples is None) == (from_theme is None):
        fail("give either --examples FILE.csv or --from-theme THEME_ID")
    if not _TYPE_ID.match(type_id):
        fail(f"{type_id!r} is not a snake_case id (lower-case letters, digits, underscores)")
    existing = taxonomy.failure_types.get(type_id)
    if type_id in taxonomy.aliases:
        fail(f"{type_id!r} is an alias of {taxonomy.aliases[type_id]!r}; choose another id")
    if existing is not None and (existing.kind == "builtin" or existing.enabled):
        fail(f"{type_id!r} is already a {existing.kind} failure type")
    if root_cause not in taxonomy.root_causes:
        fail(f"unknown root cause {root_cause!r}; the taxonomy has "
             f"{', '.join(taxonomy.root_causes)}")
    target = settings.taxonomy_path.parent / "custom_types" / f"{type_id}.csv"
    if from_theme is not None:
        examples = _theme_examples(settings, from_theme, target.with_suffix(".theme.csv"))
        console.print(f"Examples of theme {escape(from_theme)} written to {examples}: review "
                      "them (label 1 = the type, 0 = not) and run again with --examples to "
                      "change them")
    assert examples is not None
    try:
        found = read_examples(examples)
    except ExamplesError as exc:
        fail(str(exc))

    started = time.perf_counter()
    model_dir = _model_dir(settings)
    classifier = FeedbackClassifier.load(model_dir, settings.torch_threads)
    digest = file_digest(model_dir / ONNX_FILE)
    cache = FeatureCache(settings.features_dir, digest)
    try:
        head = fit_head(type_id, examples_features(found, lambda t: cache.features(
            t, classifier.pooled)), found, digest)
        check_precision(head, force)
    except HeadRejected as exc:
        fail(str(exc))
    seconds = time.perf_counter() - started
    console.print(f"Head for {escape(type_id)} fit in {seconds:.1f} s (model load, features "
                  f"and {head.cv_folds}-fold cross-validation): precision {head.cv_precision:.2f}"
                  f", recall {head.cv_recall:.2f} on n = {head.n_positive} positives, "
                  f"{head.n_negative} negatives; threshold {head.threshold:.3f}")

    target.parent.mkdir(parents=True, exist_ok=True)
    if examples.resolve() != target.resolve():
        shutil.copyfile(examples, target)
    head.save(heads_folder(settings.custom_heads_dir, digest))
    try:
        write_custom_type(settings.taxonomy_path, type_id, root_cause, description,
                          target.relative_to(settings.taxonomy_path.parent).as_posix())
    except (ValueError, TaxonomyMismatch) as exc:
        fail(f"the taxonomy was left as it was: {exc}")
    console.print(f"Added {escape(type_id)} (kind: custom, root cause {escape(root_cause)}) to "
                  f"{settings.taxonomy_path}; examples in {target}")
    _relabel(settings, "types add")


@types_app.command("remove")
def remove(type_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Disable a custom type (its entry and examples stay) and relabel stored history."""
    from mining.cli import console, fail
    from mining.settings import Settings
    from mining.taxonomy import set_custom_enabled

    settings = Settings()
    taxonomy = _load_taxonomy(settings.taxonomy_path)
    found = taxonomy.failure_types.get(type_id)
    if found is None:
        fail(f"no failure type {type_id!r}")
    if found.kind == "builtin":
        fail(f"{type_id!r} is a built-in type the model predicts; only custom types can be "
             "removed (rename or merge built-in types with aliases:)")
    if not found.enabled:
        console.print(f"{escape(type_id)} is already disabled")
    else:
        set_custom_enabled(settings.taxonomy_path, type_id, False)
        console.print(f"Disabled {escape(type_id)} in {settings.taxonomy_path}")
    _relabel(settings, "types remove")


def _stored_counts(settings: Settings) -> tuple[dict[str, int], str]:
    """Items per failure type from the working store (under the run lock), or from the read
    copy while a run holds it; empty when there is no store."""
    import duckdb

    from mining.runlock import RunInProgress, exclusive_run
    from mining.store.db import read_named_queries

    def read(path: Path) -> dict[str, int]:
        frame = read_named_queries(path, ["failure_type_counts"], [])["failure_type_counts"]
        return {str(k): int(v) for k, v in zip(frame["failure_type"], frame["items"],
                                               strict=True)}

    try:
        if settings.db_path.is_file():
            with exclusive_run(settings.db_path, "mining types list"):
                return read(settings.db_path), str(settings.db_path)
    except (RunInProgress, duckdb.IOException):
        pass
    if settings.read_copy_path.is_file():
        return read(settings.read_copy_path), str(settings.read_copy_path)
    return {}, "no store"


def _builtin_metrics(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "metrics.json"
    if not path.is_file():
        return {}
    metrics = json.loads(path.read_text(encoding="utf-8"))
    held_out = metrics.get("validation", {}).get(METRICS_SET, {}).get("model_int8", {})
    return dict(held_out.get("failure_types", {}).get("per_label", {}))


@types_app.command("list")
def list_types() -> None:
    """Every failure type: kind, root cause, examples, last measured P/R, stored items."""
    from mining.classify.custom import CustomHead, ExamplesError, heads_folder, read_examples
    from mining.classify.features import file_digest
    from mining.classify.model import LABELS_FILE, ONNX_FILE, LabelSpace
    from mining.cli import console
    from mining.settings import Settings

    settings = Settings()
    taxonomy = _load_taxonomy(settings.taxonomy_path)
    try:
        model_dir: Path | None = _model_dir(settings)
    except FileNotFoundError:
        model_dir = None
    builtin = _builtin_metrics(model_dir) if model_dir else {}
    not_learnt = set(LabelSpace.load(model_dir / LABELS_FILE).disabled) if model_dir else set()
    folder = heads_folder(settings.custom_heads_dir,
                          file_digest(model_dir / ONNX_FILE)) if model_dir else None
    counts, source = _stored_counts(settings)
    table = Table(title=f"Failure types ({settings.taxonomy_path}; stored items: {source})")
    for column in ("id", "kind", "enabled", "root cause", "examples", "precision", "recall",
                   "n", "measured on", "stored items"):
        table.add_column(column)
    for name, ft in taxonomy.failure_types.items():
        precision = recall = n = measured = examples = ""
        if ft.kind == "builtin":
            m = builtin.get(name)
            if m is not None and m.get("n"):
                precision, recall, n = f"{m['precision']:.2f}", f"{m['recall']:.2f}", str(m["n"])
                measured = f"{METRICS_SET} (held out)"
        else:
            try:
                found = read_examples(taxonomy.examples_path(name))
                examples = f"{found.n_positive} + {found.n_negative}"
            except ExamplesError as exc:
                examples = f"unreadable: {exc}"
            head = CustomHead.load(folder, name) if folder else None
            if head is not None:
                precision, recall = f"{head.cv_precision:.2f}", f"{head.cv_recall:.2f}"
                n = f"{head.n_positive} + {head.n_negative}"
                measured = f"{head.cv_folds}-fold CV, {head.fitted_at[:10]}"
        enabled = "not learnt" if name in not_learnt else "yes" if ft.enabled else "no"
        table.add_row(name, ft.kind, enabled, ft.root_cause, examples,
                      precision, recall, n, measured, str(counts.get(name, 0)))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(types_app, name="types")
