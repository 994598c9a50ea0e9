"""Write the model's validation splits as evaluation CSVs, to check a card with `mining evaluate`.

    .venv/bin/python scripts/export_validation_sets.py [--config config/train.yaml]
    .venv/bin/mining evaluate --data artifacts/validation/airline.csv --json airline.json
    .venv/bin/python scripts/export_validation_sets.py --dev   # the dev parts too (dev_*.csv)

The splits are the ones `mining train` reports on (fixed by a hash of each row's id), built from
../shared/data; nothing here is trained on. With `--dev`, the dev parts (what thresholds are
tuned on, and what models are chosen by) are written as well. Files go to
artifacts/validation/ (not committed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from mining.classify import data
from mining.classify.train import TrainConfig, build_datasets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("config/train.yaml"))
    parser.add_argument("--out", type=Path, default=Path("artifacts/validation"))
    parser.add_argument("--dev", action="store_true", help="also write the dev parts (dev_*.csv)")
    args = parser.parse_args()
    cfg = TrainConfig.load(args.config)
    _, dev, validation, _ = build_datasets(cfg)
    parts = dict(validation)
    if args.dev:
        parts |= {f"dev_{name}": examples for name, examples in dev.items()}
    if "gold_test" in validation and cfg.data.gold is not None:
        # The held-out gold texts of each labelling round too, so a round's figures compare
        # with what was measured before the next round was added.
        gold = pd.read_csv(cfg.data.gold, dtype=str, keep_default_na=False)
        for day, rows in gold[gold["split"] == "test"].groupby("labelled_at"):
            ids = {f"gold:{i}" for i in rows["id"]}
            parts[f"gold_test_labelled_{day}"] = [e for e in validation["gold_test"]
                                                  if e.uid in ids]
    if "corpus_test" in validation and cfg.data.corpus is not None:
        # Per domain and language, to read the test figures domain by domain.
        corpus = pd.read_csv(cfg.data.corpus, dtype=str, keep_default_na=False)
        test = corpus[corpus["split"] == "test"]
        for (domain, language), rows in test.groupby(["domain", "language"]):
            ids = {f"corpus:{i}" for i in rows["id"]}
            parts[f"corpus_test_{domain}_{language}"] = [e for e in validation["corpus_test"]
                                                        if e.uid in ids]
    args.out.mkdir(parents=True, exist_ok=True)
    for name, examples in parts.items():
        path = args.out / f"{name}.csv"
        data.to_eval_frame(examples, cfg.label_ids()).to_csv(path, index=False)
        print(f"{path}: {len(examples)} rows")


if __name__ == "__main__":
    main()
