"""Long texts: head-only truncation against head + tail, on held-out labelled text.

    .venv/bin/python bench/long_text_truncation.py [--model DIR] [--data data/labels/corpus.csv]

Takes the corpus test part's texts longer than the model's window (CFPB narratives, long hotel
and restaurant reviews in both languages) and scores them twice with the same model: cut to
the first max_length tokens, and kept as the first `head_tokens` plus the last ones. Prints
sentiment accuracy, failure-type macro-F1 (named types) and response precision / recall for
each, and writes artifacts/long_text_truncation.json.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd  # noqa: E402

from mining.classify.data import LabelIds  # noqa: E402
from mining.classify.evaluate import evaluate_frame  # noqa: E402
from mining.classify.model import (  # noqa: E402
    FeedbackClassifier,
    TextEncoder,
    default_model_path,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=Path("data/labels/corpus.csv"))
    parser.add_argument("--json", type=Path, default=Path("artifacts/long_text_truncation.json"))
    args = parser.parse_args()
    model_dir = args.model or default_model_path(Path("models"))
    classifier = FeedbackClassifier.load(model_dir)
    labels = classifier.labels
    frame = pd.read_csv(args.data, dtype=str, keep_default_na=False)
    frame = frame[frame["split"] == "test"].reset_index(drop=True)
    untruncated = TextEncoder(model_dir, 100_000)
    lengths = [len(ids) for ids in untruncated.encode(list(frame["text"]))]
    long = frame[[n > labels.max_length for n in lengths]].reset_index(drop=True)
    print(f"{model_dir}: {len(long)} of {len(frame)} test texts exceed {labels.max_length} "
          f"tokens ({long.groupby(['domain', 'language']).size().to_dict()})")
    results = {}
    for strategy in ("head", "head_tail"):
        classifier.text_encoder = TextEncoder(model_dir, labels.max_length, strategy,
                                              labels.head_tokens)
        result = evaluate_frame(classifier, long, LabelIds.load())
        results[strategy] = {
            "sentiment_accuracy": result["sentiment"]["accuracy"],
            "failure_macro_f1_named": result["failure_types"]["macro_f1_named"],
            "response_precision": result["response"]["micro"]["precision"],
            "response_recall": result["response"]["micro"]["recall"],
        }
        print(f"{strategy:10s} " + "  ".join(f"{k} {v:.3f}" for k, v in results[strategy].items()))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"model": str(model_dir), "texts": len(long),
                                     "max_length": labels.max_length,
                                     "head_tokens": labels.head_tokens,
                                     "results": results}, indent=2))


if __name__ == "__main__":
    main()
