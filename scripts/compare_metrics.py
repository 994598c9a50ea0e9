"""Two models' held-out figures side by side, split by split, from their `metrics.json`.

    .venv/bin/python scripts/compare_metrics.py models/radar-e5/A models/radar-e5/B [--points 1]

For a faster recipe the question is whether it gives up more than `--points` (default 1) on any
held-out split: sentiment accuracy and macro-F1, failure-type macro-F1 over the named types,
and response micro precision, recall and F1. Prints every figure, the difference (B - A) and
marks each drop larger than the tolerance; exits 1 when there is one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

FIGURES = {
    "sentiment accuracy": ("sentiment", "accuracy"),
    "sentiment macro-F1": ("sentiment", "macro_f1"),
    "failure macro-F1 (named)": ("failure_types", "macro_f1_named"),
    "response precision": ("response", "micro", "precision"),
    "response recall": ("response", "micro", "recall"),
    "response F1": ("response", "micro", "f1"),
}


def figure(evaluation: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = evaluation
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if value is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path, help="model directory A (the reference)")
    parser.add_argument("second", type=Path, help="model directory B")
    parser.add_argument("--points", type=float, default=1.0,
                        help="largest drop allowed, in points (0.01 = 1 point)")
    args = parser.parse_args()
    a, b = (json.loads((d / "metrics.json").read_text(encoding="utf-8"))
            for d in (args.first, args.second))
    print(f"A = {a['name']}/{a['version']}, B = {b['name']}/{b['version']}")
    drops = []
    for split, entry in a["validation"].items():
        if split not in b["validation"]:
            print(f"{split}: not in B")
            continue
        first, second = entry["model_int8"], b["validation"][split]["model_int8"]
        for name, path in FIGURES.items():
            x, y = figure(first, path), figure(second, path)
            if x is None or y is None:
                continue
            delta = (y - x) * 100
            mark = ""
            if delta < -args.points:
                mark = "  <-- drop"
                drops.append(f"{split} {name}")
            print(f"{split:22s} {name:26s} {x:.4f}  {y:.4f}  {delta:+5.1f}{mark}")
    if drops:
        print(f"{len(drops)} figure(s) drop by more than {args.points:g} point(s): "
              + "; ".join(drops))
        sys.exit(1)
    print(f"no held-out figure drops by more than {args.points:g} point(s)")


if __name__ == "__main__":
    main()
