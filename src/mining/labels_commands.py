"""`mining label export` and `mining label import`: corrections in a loop."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from mining.labels import Thresholds
    from mining.settings import Settings
    from mining.taxonomy import Taxonomy

console = Console()
label_app = typer.Typer(help="Corrections in a loop: export the items the model is least sure "
                             "of, import an analyst's corrections for the next training.",
                        no_args_is_help=True)
FORMATS = ("csv", "label-studio")


def _fail(message: str) -> Any:
    from mining.cli import fail

    fail(message)


def _taxonomy(settings: Settings) -> Taxonomy:
    from mining.taxonomy import Taxonomy

    try:
        return Taxonomy.load(settings.taxonomy_path)
    except (FileNotFoundError, ValueError) as exc:
        return _fail(f"cannot read the taxonomy: {exc}")


def _stored_predictions(db: Path | None) -> list[dict[str, Any]]:
    """The rows of `label_candidates`: from --db under the run lock; else from the working
    store, or, while a run holds it, from the copy the last run published."""
    import duckdb

    from mining.cli import describe, read_store
    from mining.store.db import read_named_queries

    def read(source: Path) -> list[dict[str, Any]]:
        frame = read_named_queries(source, ["label_candidates"], [])["label_candidates"]
        return [{**row, "failure_types": list(row["failure_types"]),
                 "responses": list(row["responses"])}
                for row in frame.to_dict(orient="records")]

    rows = None
    try:
        rows = read_store(db, "label export", read)
    except FileNotFoundError as exc:
        _fail(str(exc))
    except duckdb.Error as exc:
        _fail(f"cannot read the stored predictions: {describe(exc)}")
    return rows or []


def _thresholds(versions: set[str], models_dir: Path, taxonomy: Taxonomy
                ) -> dict[str, Thresholds]:
    """Each predicting model's own thresholds: a margin to another model's means nothing.
    Keyed by current ids, as the stored scores are (a merged type takes the lower one)."""
    from mining.classify.model import LABELS_FILE, LabelSpace
    from mining.labels import Thresholds

    out = {}
    for version in sorted(versions):
        path = models_dir / version / LABELS_FILE
        if not path.is_file():
            _fail(f"the stored predictions of model {version} need its thresholds, and "
                  f"{path} does not exist (set MINING_MODELS_DIR, or run `mining run` with the "
                  "current model first)")
        labels = LabelSpace.load(path)
        failure: dict[str, float] = {}
        for label, limit in labels.failure_thresholds.items():
            current = taxonomy.canonical(label)
            failure[current] = min(limit, failure.get(current, limit))
        out[version] = Thresholds(failure, labels.response_thresholds,
                                  frozenset(taxonomy.canonical(t) for t in labels.disabled))
    return out


@label_app.command("export")
def label_export(
    uncertain: Annotated[int, typer.Option("--uncertain", min=1,
                                           help="How many items to export.")],
    out: Annotated[Path, typer.Option("--out", help="File to write (CSV or Label Studio JSON).")],
    format: Annotated[str, typer.Option(
        "--format", help="csv (gold format plus site, nearest_label, margin, labeller, notes) "
                         "or label-studio (tasks with the current labels as predictions).")
    ] = "csv",
    db: Annotated[Path | None, typer.Option(help="Database; default: the working store, or "
                                                 "the read copy while a run holds it.")] = None,
) -> None:
    """Export the stored items the model is least sure of, with their current labels.

    Least sure: closest to a decision threshold; spread over (nearest label, site) groups.
    """
    from mining import labels
    from mining.settings import Settings

    if format not in FORMATS:
        _fail(f"--format must be one of {', '.join(FORMATS)}, not {format!r}")
    settings = Settings()
    taxonomy = _taxonomy(settings)
    try:
        corrected = labels.load_stored(settings.corrections_path)
    except labels.CorrectionsInvalid as exc:
        _fail(str(exc))
    rows = _stored_predictions(db)
    thresholds = _thresholds({r["model_version"] for r in rows}, settings.models_dir,
                             taxonomy)
    pool = labels.candidates(rows, thresholds, taxonomy, skip_ids=corrected)
    chosen = labels.spread(pool, uncertain)
    if format == "csv":
        labels.write_csv(labels.export_rows(chosen), labels.EXPORT_COLUMNS, out)
    else:
        labels.write_json(labels.label_studio_tasks(chosen), out)
        config = out.with_suffix(".label_config.xml")
        config.write_text(labels.label_studio_config(taxonomy), encoding="utf-8")
        console.print(f"Label Studio labelling config: {escape(str(config))}")
    groups = len({(c.nearest_label, c.site) for c in chosen})
    span = f"margins {chosen[0].margin:.3f}-{max(c.margin for c in chosen):.3f}, " if chosen \
        else ""
    console.print(
        f"{len(chosen)} of {len(pool)} uncertain items written to {escape(str(out))} "
        f"({span}{groups} label x site groups; {len(rows)} stored with a prediction, "
        f"{len(corrected)} already corrected and left out)", soft_wrap=True)


@label_app.command("import")
def label_import(
    file: Annotated[Path, typer.Argument(
        help="The export, edited: CSV, or a Label Studio JSON export (annotated tasks only).")],
    labeller: Annotated[str, typer.Option("--labeller", help="Who corrected (for rows whose "
                                                             "labeller column is empty).")],
) -> None:
    """Validate and store an analyst's corrections (nothing is stored if one row is bad).

    They train the next `mining train` or `mining train --heads-only`.
    """
    from mining import labels
    from mining.settings import Settings

    if not labeller.strip():
        _fail("--labeller must name who corrected")
    if not file.is_file():
        _fail(f"no corrections file at {file}")
    settings = Settings()
    taxonomy = _taxonomy(settings)
    try:
        header, rows = labels.read_corrections(file)
        incoming = labels.validate(header, rows, taxonomy, file,
                                   "task" if file.suffix.lower() == ".json" else "line")
        counts = labels.store_corrections(incoming, settings.corrections_path, labeller.strip(),
                                          datetime.now(UTC), file.name)
    except labels.CorrectionsInvalid as exc:
        _fail(str(exc))
    console.print(
        f"{len(incoming)} corrections read from {escape(str(file))}: {counts.new} new, "
        f"{counts.changed} changed, {counts.unchanged} unchanged; stored in "
        f"{escape(str(settings.corrections_path))} (every version in "
        f"{escape(str(labels.history_path(settings.corrections_path)))}). The next "
        "`mining train --heads-only` trains on them.", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(label_app, name="label")
