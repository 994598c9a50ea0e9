"""`mining train`, `mining evaluate`, `mining predict`."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from mining.classify.taxonomy_model import TaxonomyClassifier

console = Console()


def _taxonomy_classifier(model: Path | None, command: str) -> TaxonomyClassifier:
    """The model in the taxonomy's terms: current ids and the enabled custom types."""
    from mining.classify.model import default_model_path
    from mining.classify.taxonomy_model import TaxonomyClassifier
    from mining.settings import Settings
    from mining.taxonomy import TaxonomyMismatch

    settings = Settings()
    model_dir = model or settings.model_path or default_model_path(settings.models_dir)
    try:
        return TaxonomyClassifier.load(model_dir, settings.taxonomy_path,
                                       settings.custom_heads_dir, threads=settings.torch_threads)
    except (TaxonomyMismatch, ValueError, FileNotFoundError) as exc:
        typer.echo(f"cannot {command}: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(2) from exc


def train(
    config: Annotated[Path | None, typer.Option(help="Training config (YAML).")] = Path(
        "config/train.yaml"),
    heads_only: Annotated[bool, typer.Option(
        "--heads-only", help="Keep the encoder; refit the heads and thresholds on its cached "
                             "features (seconds to minutes instead of a fine-tune).")] = False,
    model: Annotated[Path | None, typer.Option(
        help="With --heads-only: the model whose encoder to keep; default: models/DEFAULT.")
    ] = None,
) -> None:
    """Fine-tune the classifier and write models/<name>/<version>/ with its model card."""
    from mining.classify.train import refit_heads, train_model

    if model is not None and not heads_only:
        typer.echo("--model only goes with --heads-only", err=True)
        raise typer.Exit(2)
    try:
        out = refit_heads(config, model) if heads_only else train_model(config)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"cannot train: {exc}", err=True)
        raise typer.Exit(2) from exc
    console.print(f"model written to {out}; card: {out / 'README.md'}")


def evaluate(
    data: Annotated[Path, typer.Option(help="Labelled CSV (text, sentiment, failure_types, "
                                            "response, language).")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the metrics here.")] = None,
    model: Annotated[Path | None, typer.Option(help="Model dir; default: newest good.")] = None,
) -> None:
    """Accuracy and macro-F1 for sentiment, P/R/F1 per failure type and response."""
    from mining.classify.data import LabelIds
    from mining.classify.evaluate import EvaluationDataError, evaluate_file
    from mining.settings import Settings
    from mining.taxonomy import Taxonomy

    classifier = _taxonomy_classifier(model, "evaluate")
    try:
        ids = LabelIds.of(Taxonomy.load(Settings().taxonomy_path), with_custom=True)
        result = evaluate_file(classifier, data, ids, json_out)
    except EvaluationDataError as exc:
        typer.echo(f"cannot evaluate: {exc}", err=True)
        raise typer.Exit(2) from exc
    table = Table(title=f"{classifier.version} on {data}")
    for column in ("head", "label", "n", "precision", "recall", "F1"):
        table.add_column(column)
    if "sentiment" in result:
        s = result["sentiment"]
        table.add_row("sentiment", "accuracy", str(s["n"]), "", "", f"{s['accuracy']:.3f}")
        table.add_row("sentiment", "macro-F1", str(s["n"]), "", "", f"{s['macro_f1']:.3f}")
        for label, m in s["per_class"].items():
            table.add_row("", label, str(m["n"]), f"{m['precision']:.3f}", f"{m['recall']:.3f}",
                          f"{m['f1']:.3f}")
    for head in ("failure_types", "response"):
        if head not in result:
            continue
        r = result[head]
        macro = "–" if r["macro_f1"] is None else f"{r['macro_f1']:.3f}"
        table.add_row(head, "macro-F1 (present)", str(r["n_texts"]), "", "", macro)
        for label, m in r["per_label"].items():
            if m["n"] or m["predicted"]:
                table.add_row("", label, str(m["n"]), f"{m['precision']:.3f}",
                              f"{m['recall']:.3f}", f"{m['f1']:.3f}")
    console.print(table)
    if json_out:
        console.print(f"metrics written to {json_out}")


def predict(
    input: Annotated[Path, typer.Option("--input", help="CSV with a `text` column.")],
    output: Annotated[Path, typer.Option("--output", help="Where to write predictions.")],
    model: Annotated[Path | None, typer.Option(help="Model dir; default: newest good.")] = None,
    batch_size: int = 32,
) -> None:
    """One output row per input row: sentiment, failure types, responses, scores, version."""
    from mining.progress import progress_bar
    from mining.redact import redact

    with input.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "text" not in reader.fieldnames:
            typer.echo(f"cannot predict: {input} has no `text` column", err=True)
            raise typer.Exit(2)
        rows = list(reader)
    classifier = _taxonomy_classifier(model, "predict")
    texts = [redact(row["text"] or "", clean=True) for row in rows]
    predictions = []
    with progress_bar(len(texts), "predicting") as advance:
        for start in range(0, len(texts), 512):
            predictions += classifier.predict(texts[start:start + 512], batch_size)
            advance(len(texts[start:start + 512]))
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "text", "sentiment", "sentiment_score", "failure_types",
                         "failure_scores", "responses", "response_scores", "model_version",
                         "not_learnt"])
        not_learnt = ";".join(classifier.labels.disabled)
        for number, (text, p) in enumerate(zip(texts, predictions, strict=True), start=1):
            writer.writerow([number, text, p.sentiment, f"{p.sentiment_score:.4f}",
                             ";".join(p.failure_types),
                             json.dumps({k: round(v, 4) for k, v in p.failure_scores.items()}),
                             ";".join(p.responses),
                             json.dumps({k: round(v, 4) for k, v in p.response_scores.items()}),
                             classifier.version, not_learnt])
    console.print(f"{len(rows)} rows written to {output}")
    if classifier.labels.disabled:
        console.print(f"not learnt by {classifier.version}, never predicted and left out of the "
                      f"scores: {', '.join(classifier.labels.disabled)}")


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(evaluate)
    app.command()(predict)
