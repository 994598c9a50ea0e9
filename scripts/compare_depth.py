"""Put the 12-layer comparison model's figures into the default model's card.

    .venv/bin/mining train --config config/train.12-layers.yaml
    .venv/bin/python scripts/compare_depth.py artifacts/models/radar-e5-12layers/VERSION

The comparison model is trained on the same data, seed and schedule with all 12 layers of the
base; its validation figures go into the default model's `metrics.json` (`depth_comparison`)
and its card shows them split by split beside the shipped model's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mining.classify import card
from mining.classify.model import default_model_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("comparison", type=Path, help="the 12-layer model directory")
    parser.add_argument("--model", type=Path, default=None, help="default: models/DEFAULT")
    parser.add_argument("--config-path", default="config/train.12-layers.yaml")
    args = parser.parse_args()
    model_dir = args.model or default_model_path(Path("models"))
    other = json.loads((args.comparison / "metrics.json").read_text(encoding="utf-8"))
    metrics = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
    metrics["depth_comparison"] = {
        "model": f"{other['name']}/{other['version']}", "config_path": args.config_path,
        "train_seconds": other["train_seconds"],
        "layers": other["config"].get("layers") or 12,
        "validation": {split: {"model_int8": entry["model_int8"]}
                       for split, entry in other["validation"].items()},
    }
    card.write(model_dir, metrics)
    print(f"comparison with {metrics['depth_comparison']['model']} written to {model_dir}")


if __name__ == "__main__":
    main()
