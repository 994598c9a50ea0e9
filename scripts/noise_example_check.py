"""Fit the worked example's `noise` head and print its cross-validated and held-out P/R.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/noise_example_check.py

Fits the head on docs/examples/noise.csv exactly as `mining types add` does (same features,
folds, seed and threshold) and scores docs/examples/noise_heldout.csv, real reviews labelled by
hand from rows no example comes from (see docs/examples/README.md). Features are kept in
.cache/noise_example_check/ so a rerun encodes nothing; nothing else is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mining.classify.custom import (
    examples_features,
    fit_head,
    precision_recall,
    read_examples,
)
from mining.classify.features import FeatureCache, file_digest
from mining.classify.model import ONNX_FILE, FeedbackClassifier, default_model_path

EXAMPLES = Path("docs/examples")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=Path, default=EXAMPLES / "noise.csv")
    parser.add_argument("--held-out", type=Path, default=EXAMPLES / "noise_heldout.csv")
    parser.add_argument("--model", type=Path, default=None,
                        help="model dir (default: models/DEFAULT)")
    parser.add_argument("--cache", type=Path, default=Path(".cache/noise_example_check"))
    args = parser.parse_args()

    model_dir = args.model or default_model_path(Path("models"))
    classifier = FeedbackClassifier.load(model_dir)
    digest = file_digest(model_dir / ONNX_FILE)
    cache = FeatureCache(args.cache, digest)

    def features(texts: list[str]) -> np.ndarray:
        return cache.features(texts, classifier.pooled)

    examples = read_examples(args.examples)
    head = fit_head("noise", examples_features(examples, features), examples, digest)
    print(f"model {model_dir}")
    print(f"cross-validated ({head.cv_folds}-fold) on {args.examples}: precision "
          f"{head.cv_precision:.2f}, recall {head.cv_recall:.2f}; n = {head.n_positive} "
          f"positives, {head.n_negative} negatives; threshold {head.threshold:.3f}")

    held_out = read_examples(args.held_out)  # same checks: text,label, 0/1, no empty text
    scores = head.scores(examples_features(held_out, features))
    labels = held_out.labels
    precision, recall = precision_recall(scores, labels, head.threshold)
    predicted = scores >= head.threshold
    tp = int((predicted & (labels == 1)).sum())
    print(f"held out {args.held_out}: precision {precision:.2f} ({tp}/{int(predicted.sum())}), "
          f"recall {recall:.2f} ({tp}/{held_out.n_positive}); n = {held_out.n_positive} "
          f"positives, {held_out.n_negative} negatives")


if __name__ == "__main__":
    main()
