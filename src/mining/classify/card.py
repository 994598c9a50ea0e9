"""The model card (README.md in the model directory), rendered from metrics.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mining.classify.data import (
    AIRLINE_REASONS,
    PEOPLE_RULES,
    RATED_SETS,
    RESPONSE_RULES,
    RESTAURANT_ASPECTS,
)
from mining.machine import describe_flags

BARS = [
    ("corpus_test", "response", "micro.precision", 0.80,
     "corpus test: customer-response micro precision"),
    ("corpus_test", "response", "micro.recall", 0.60,
     "corpus test: customer-response micro recall"),
    ("corpus_test", "response", "per_label.voice.f1", 0.60, "corpus test: voice F1"),
    ("corpus_test", "response", "per_label.exit.f1", 0.60, "corpus test: exit F1"),
    ("corpus_test", "response", "per_label.word_of_mouth.f1", 0.60,
     "corpus test: word-of-mouth F1"),
    ("corpus_test", "failure_types", "macro_f1_named", 0.65,
     "corpus test: failure-type macro-F1 (10 named types, `other` excluded)"),
    ("corpus_test", "failure_types", "per_label.promise_mismatch.f1", 0.50,
     "corpus test: promise_mismatch F1"),
    ("corpus_test", "failure_types", "per_label.system_failure.f1", 0.50,
     "corpus test: system_failure F1"),
    ("corpus_test_en", "sentiment", "accuracy", 0.88, "corpus test, English: sentiment accuracy"),
    ("corpus_test_zh", "sentiment", "accuracy", 0.88,
     "corpus test, Chinese (hotel, restaurant, e-commerce): sentiment accuracy"),
    ("airline", "sentiment", "accuracy", 0.85, "airline tweets: sentiment accuracy"),
    ("airline", "failure_types", "macro_f1", 0.72, "airline tweets: failure-type macro-F1"),
    ("chinese_hotel", "sentiment", "accuracy", 0.90, "Chinese hotel reviews: sentiment accuracy"),
]


def _get(result: dict[str, Any], head: str, metric: str) -> float | None:
    value: Any = result.get(head)
    for part in metric.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value if isinstance(value, int | float) else None


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _training_time(metrics: dict[str, Any]) -> str:
    """How long training took: the fine-tuning, and the whole command a user waits for."""
    epochs = (f"{len(metrics['history'])} epochs: "
              + ", ".join(f"{h['seconds']:.0f} s" for h in metrics["history"]))
    whole = metrics.get("command_seconds")
    if metrics.get("heads_only"):
        refit = whole or metrics["heads_only"]["seconds_to_fit"]
        return (f"- training time on this machine ({_machine(metrics)}): this version refit "
                f"only the "
                f"heads on the encoder of {metrics['heads_only']['encoder_from']} "
                f"(`mining train --heads-only`), {refit:.0f} s in all; that encoder was "
                f"fine-tuned in {metrics['train_seconds']:.0f} s ({epochs})"
                + (f", its whole `mining train` {encoder_whole:.0f} s"
                   if (encoder_whole := metrics["heads_only"].get("encoder_command_seconds"))
                   else ""))
    arithmetic = (", products in bf16 autocast" if metrics.get("precision") == "bf16" else "")
    line = (f"- training time on this machine ({_machine(metrics)}): fine-tuning "
            f"{metrics['train_seconds']:.0f} s ({epochs}{arithmetic})")
    if whole:
        line += (f"; the whole `mining train` (vocabulary, fine-tuning, export, feature cache, "
                 f"head refit, thresholds, evaluation, card) **{whole:.0f} s**")
    return line


def _machine(metrics: dict[str, Any]) -> str:
    """Cores and CPU flags of the machine that trained (older cards recorded no flags)."""
    facts = metrics.get("machine")
    if not facts:
        return "2 CPU cores"
    return f"{facts['cores']} CPU cores; CPU flags {describe_flags(facts['cpu_flags'])}"


def _bars(metrics: dict[str, Any]) -> list[str]:
    lines = ["| bar | target | model (int8) | baseline | met |", "|---|---|---|---|---|"]
    for split, head, metric, target, label in BARS:
        entry = metrics["validation"].get(split)
        if entry is None:
            lines.append(f"| {label} | ≥ {target} | not measured (no such split) | – | no |")
            continue
        model = _get(entry["model_int8"], head, metric)
        baseline = _get(entry.get("baseline_tfidf_lr", {}), head, metric)
        met = "yes" if model is not None and model >= target else "**no**"
        lines.append(f"| {label} | ≥ {target} | {_fmt(model)} | {_fmt(baseline)} | {met} |")
    return lines


HEADLINES = [("sentiment accuracy", "sentiment", "accuracy"),
             ("failure-type macro-F1", "failure_types", "macro_f1"),
             ("response precision", "response", "micro.precision"),
             ("response recall", "response", "micro.recall")]


def _shortfalls(metrics: dict[str, Any]) -> list[str]:
    """Every bar missed and every headline figure where the baseline is ahead, in words."""
    lines = []
    for split, head, metric, target, label in BARS:
        entry = metrics["validation"].get(split)
        model = _get(entry["model_int8"], head, metric) if entry else None
        if model is None or model < target:
            lines.append(f"- Bar missed: {label} is {_fmt(model)} (target {target}); "
                         "this is the best figure this recipe reached.")
    for split, entry in metrics["validation"].items():
        for label, head, metric in HEADLINES:
            model = _get(entry["model_int8"], head, metric)
            baseline = _get(entry.get("baseline_tfidf_lr", {}), head, metric)
            if model is not None and baseline is not None and baseline > model:
                lines.append(f"- The TF-IDF baseline beats the model on {split} {label}: "
                             f"{_fmt(baseline)} vs {_fmt(model)}.")
    dev_f1 = metrics["thresholds"].get("dev_f1", {})
    for kind in ("failure", "response"):
        off = sorted(label for label, t in metrics["thresholds"][kind].items() if t > 1)
        if off:
            lines.append(f"- Not learnt, so never predicted and left out of the scores ({kind}): "
                         + ", ".join(f"{x} (dev F1 {dev_f1.get(x, 0):.2f})" for x in off)
                         + f" — below the {metrics['config'].get('disable_below_f1', 0.3)} bar "
                         "on dev, or too few dev positives to tune.")
    if not lines:
        return ["Every bar met, and the model leads the baseline on every headline figure.", ""]
    return ["Where the model falls short, honestly:", "", *lines, ""]


COLUMN_NAMES = {"model_int8": "model int8", "model_fp32": "model fp32",
                "baseline_tfidf_lr": "TF-IDF + LR"}


def _side_by_side(name: str, entry: dict[str, Any]) -> list[str]:
    columns = [k for k in ("model_int8", "model_fp32", "baseline_tfidf_lr") if k in entry]
    lines = [f"### {name} (n = {entry['n']})", "",
             "| figure | " + " | ".join(COLUMN_NAMES[k] for k in columns) + " |",
             "|---|" + "---|" * len(columns)]
    rows = [("sentiment accuracy", "sentiment", "accuracy"),
            ("sentiment macro-F1", "sentiment", "macro_f1"),
            ("failure-type macro-F1 (types present)", "failure_types", "macro_f1"),
            ("failure-type macro-F1 (named types)", "failure_types", "macro_f1_named"),
            ("response micro precision", "response", "micro.precision"),
            ("response micro recall", "response", "micro.recall")]
    for label, head, metric in rows:
        values = [_get(entry[k], head, metric) for k in columns]
        if any(v is not None for v in values):
            lines.append(f"| {label} | " + " | ".join(_fmt(v) for v in values) + " |")
    lines.append("")
    for head, title in (("sentiment", "per class"), ("failure_types", "per failure type"),
                        ("response", "per response")):
        model = entry["model_int8"].get(head)
        base = entry.get("baseline_tfidf_lr", {}).get(head)
        if not model:
            continue
        per = model.get("per_class") or model.get("per_label")
        per_base = (base or {}).get("per_class") or (base or {}).get("per_label") or {}
        lines += [f"{head}, {title} (model int8 | baseline):", "",
                  "| label | n | P | R | F1 | baseline F1 |", "|---|---|---|---|---|---|"]
        for label, m in per.items():
            if m["n"] == 0 and m.get("predicted", 0) == 0:
                continue
            lines.append(f"| {label} | {m['n']} | {m['precision']:.3f} | {m['recall']:.3f} | "
                         f"{m['f1']:.3f} | {_fmt(per_base.get(label, {}).get('f1'))} |")
        lines.append("")
    return lines


def _base_choice(comparison: dict[str, Any] | None) -> list[str]:
    """The candidates compared by `bench/compare_bases.py`, and why this base."""
    lines = ["## Base model choice", ""]
    if not comparison:
        return [*lines, "No comparison recorded (run `bench/compare_bases.py`).", ""]
    lines += ["Same short recipe for each candidate (" + comparison["recipe"] + "):", "",
              "| base | package | airline sentiment acc | airline failure macro-F1 | "
              "Chinese sentiment acc | texts/s |", "|---|---|---|---|---|---|"]
    for row in comparison["candidates"]:
        lines.append(f"| {row['base']} | `{row['package']}` | "
                     f"{row['airline_sentiment_accuracy']:.3f} | "
                     f"{row['airline_failure_macro_f1']:.3f} | "
                     f"{row['chinese_sentiment_accuracy']:.3f} | {row['texts_per_second']:.0f} |")
    return [*lines, "", comparison["choice"], ""]


def write(model_dir: Path, metrics: dict[str, Any]) -> None:
    """Save `metrics.json` and the card rendered from it, side by side."""
    (model_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    (model_dir / "README.md").write_text(render(metrics), encoding="utf-8")


def _speed(bench: dict[str, Any] | None, max_length: int) -> list[str]:
    """What `bench/classify_speed.py --record` measured on this model."""
    if not bench:
        return []
    encoder = ("the same encoder's architecture with random weights (no fp32 checkpoint on "
               "the benchmark machine: the same compute, so the same speed)"
               if bench.get("plain_weights") == "random" else "the same fine-tuned encoder")
    lines = ["## Speed", "",
             f"`bench/classify_speed.py` on {bench['machine']}, {bench['date']}: the project's "
             "path (int8 ONNX, length-sorted batches of 32) against a plain "
             f"`transformers.pipeline(\"text-classification\")` over {encoder} (fp32 torch, "
             "batch 1) and against the same fp32 network in length-sorted batches of 32, same "
             "run, 2 threads each. Target: ≥ 5× the plain pipeline.", "",
             "| input | n | project | plain pipeline | batched fp32 torch | ratio | "
             "ratio vs batched torch |", "|---|---|---|---|---|---|---|"]
    for name, r in bench["results"].items():
        lines.append(f"| {name} | {r['texts']} | {r['project_texts_per_s']}/s | "
                     f"{r['plain_pipeline_texts_per_s']}/s | "
                     f"{r.get('batched_fp32_torch_texts_per_s', '–')}/s | {r['ratio']}× | "
                     f"{r.get('ratio_vs_batched_torch', '–')}× |")
    if bench.get("cpu_flags"):
        lines += ["", f"CPU flags: {describe_flags(bench['cpu_flags'])}."]
    short = [name for name, r in bench["results"].items() if r["ratio"] < 5]
    if short:
        lines += ["", f"The 5× target is **not met** on {', '.join(short)}. Texts that fill all "
                  f"{max_length} tokens leave no padding for length-sorted batching to save, "
                  "so only the int8 arithmetic speeds them up."]
    return [*lines, ""]


def render(metrics: dict[str, Any]) -> str:
    cfg = metrics["config"]
    base = metrics["base"]
    lines = [
        f"# {metrics['name']} {metrics['version']}", "",
        "Reads one feedback text (English or Chinese) and returns sentiment, service-failure "
        "types (multi-label) and customer-response signals (voice, exit, word of mouth, third "
        "party). Fine-tuned by `mining train`; shipped as int8 ONNX "
        "(`model.int8.onnx`: int8 matrices with one scale per column, activations quantised "
        "per token just before each product, integer arithmetic, fp16 word embeddings), run "
        "with ONNX Runtime. A text's scores do not depend on the other texts in its batch.",
        "",
        f"- created: {metrics['created']}",
        f"- base model: {base['description']} — from the PyPI package `{base['package']}` "
        f"{base['version']} (no download at run time)",
        _training_time(metrics),
        *(["- response heads: one logistic regression per response on the pooled features and "
           "the text's TF-IDF word and character n-grams (`lexical.json`), which carry to "
           "domains the heads never saw better than either alone "
           "(`bench/heads_domain_holdout.py`)"]
          if metrics["config"].get("lexical_responses") else []),
        f"- inference (8-bit ONNX, 2 threads) on the airline validation tweets: "
        f"{metrics['speed_int8_airline_validation']['texts_per_second']} texts/s "
        + (f"on the training machine ({_machine(metrics)}) " if metrics.get("machine") else "")
        + ("(full benchmark below)" if metrics.get("speed_benchmark") else
           "(full benchmark: `bench/classify_speed.py --record` adds it to this card)"),
        f"- good (matches or beats the baseline's sentiment accuracy on airline and Chinese "
        f"validation): {metrics['good']}", "",
        "## Quality bars (validation splits never trained on)", "", *_bars(metrics), "",
        *_shortfalls(metrics),
        "## Data", "",
        "| file | sha256 | rows |", "|---|---|---|",
        *[f"| `{f['path']}` | `{f['sha256'][:16]}…` | {f['rows_in_file']} |"
          for f in metrics["data_files"]],
        "", "Training examples per set: "
        + ", ".join(f"{k} {v}" for k, v in metrics["training_examples"].items()) + ".", "",
        "Splits are fixed by a hash of each row's id "
        "(`split_of` and `corpus_split` in `src/mining/classify/data.py`): public sets 80 % "
        "train, 10 % dev, 10 % validation; the corpus 70 % train, 10 % dev, 20 % test. "
        "Thresholds and the choice of disabled labels use dev only; validation and test are "
        "only reported. Restaurants are validated on MAMS `val.xml`; the gold set's `test` "
        "part is held out.", "",
        "## Label mappings", "",
        "- airline `negativereason` → failure type: "
        + "; ".join(f"{k} → {v}" for k, v in AIRLINE_REASONS.items())
        + ". Positive and neutral tweets have no failure; `airline_sentiment` → sentiment.",
        "- SemEval-2014 / MAMS negative aspects: "
        + "; ".join(f"{k} → {v}" for k, v in RESTAURANT_ASPECTS.items())
        + "; service/staff → the first matching rule of "
        + ", ".join(f"`{name}`" for name, _ in PEOPLE_RULES)
        + " (keyword rules in `data.py`), else the four people-facing types are left unknown. "
        "Sentence sentiment where the aspect polarities agree.",
        "- ChnSentiCorp hotel reviews → Chinese sentiment (negative / positive).",
        *(["- rated reviews (" + ", ".join(f"`{r.name}`" for r in RATED_SETS) + ") → "
           "sentiment only: a rating at or below a set's low mark negative, at or above its "
           "high mark positive (stars 1-2 / 4-5; booking.com 5.0 / 9.5; the Chinese set's "
           f"0 / 1), the middle left out; at most {cfg['data']['rated_max_per_set']} per set "
           "(a set spanning several domains a multiple: `RatedSet.share`), half of each, and "
           "never a row or text a hand-labelled set holds. On the corpus "
           "rows of those files a low rating is hand-labelled negative 93-98 %, a high one "
           "positive 85-97 % (`scripts/rated_agreement.py`)."]
          if cfg["data"].get("rated_max_per_set") else []),
        "- the labelled corpus (`data/labels/corpus.csv`, hand-labelled by `data/labels/GUIDE.md`) "
        "and the gold set's train part carry every label: sentiment, all 11 failure types and "
        "the four responses. Responses are learnt from them only"
        + (" and from keyword weak labels (" + ", ".join(RESPONSE_RULES) + ")"
           if cfg["data"].get("weak_responses") else "")
        + "; public rows leave the response heads untrained.", "",
        "## Hyperparameters", "",
        "```json", *[f"{k}: {v}" for k, v in cfg.items() if k != "data"],
        f"data: {cfg['data']}", "```", "",
        "Decision thresholds (tuned on dev / gold train, never on validation):", "",
        f"- failure types: {metrics['thresholds']['failure']}",
        f"- responses: {metrics['thresholds']['response']}", "",
        "## Validation results, model and baseline side by side", "",
    ]
    for name, entry in metrics["validation"].items():
        lines += _side_by_side(name, entry)
    lines += _speed(metrics.get("speed_benchmark"), cfg["max_length"])
    lines += _base_choice(metrics.get("base_comparison"))
    lines += [
        "## Known limits", "",
        "- The corpus annotators are sessions of one AI assistant following the guide; their "
        "agreement (`data/labels/README.md`) is that of one reader with itself more than of "
        "independent people, and the test part shares their reading.",
        "- `promise_mismatch` and `system_failure` are learnt from the hand-labelled texts only "
        "(a few hundred positives).",
        "- The encoder weights come from a 4-bit copy of multilingual-e5-small"
        + (f", cut to its first {cfg['layers']} layers" if cfg.get("layers") else "")
        + ", then fine-tuned; the shipped model runs in 8 bits again (fp32 vs int8 above).",
        f"- Texts longer than {cfg['max_length']} tokens keep "
        + (f"their first {cfg.get('head_tokens', 64)} and last "
           f"{cfg['max_length'] - cfg.get('head_tokens', 64)} tokens (head + tail)."
           if cfg.get("truncation") == "head_tail" else "their first tokens only."), "",
        "Reproduce: `mining train --config config/train.yaml`, then "
        "`mining evaluate --data FILE.csv --json OUT.json`.",
    ]
    return "\n".join(lines) + "\n"
