"""How far a review's own rating agrees with the corpus's hand-labelled sentiment.

    .venv/bin/python scripts/rated_agreement.py [--shared ../shared/data] [--corpus F.csv]

Training reads rated reviews (`data.RATED_SETS`) as sentiment: a low rating negative, a high
one positive, the middle left out. The corpus holds hand-labelled rows of the same files
(`origin_file`, `origin_row`), so for each set this prints how the hand labels of its low,
middle and high ratings fall: the noise that reading a rating as a label brings.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from mining.classify.data import RATED_SETS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--corpus", type=Path, default=Path("data/labels/corpus.csv"))
    args = parser.parse_args()
    corpus = pd.read_csv(args.corpus, dtype=str, keep_default_na=False)
    print("| set | rating read as | corpus rows | hand negative | hand neutral | hand positive |")
    print("|---|---|---|---|---|---|")
    for spec in RATED_SETS:
        source = pd.read_csv(args.shared / spec.path, dtype=str, keep_default_na=False)
        rows = corpus[corpus["origin_file"] == spec.path]
        groups: dict[str, list[str]] = {"negative": [], "left out": [], "positive": []}
        for line, sentiment in zip(rows["origin_row"].astype(int), rows["sentiment"],
                                   strict=True):
            record = source.iloc[line - 2]  # line 1 is the header
            if any(record.get(c) == v for c, v in spec.skip.items()):
                continue
            try:
                rating = float(record[spec.rating])
            except ValueError:
                continue
            read = ("negative" if rating <= spec.negative_max else
                    "positive" if rating >= spec.positive_min else "left out")
            groups[read].append(sentiment)
        for read, hands in groups.items():
            if not hands:
                continue
            share = {s: sum(h == s for h in hands) / len(hands)
                     for s in ("negative", "neutral", "positive")}
            print(f"| {spec.name} | {read} | {len(hands)} | {share['negative']:.0%} | "
                  f"{share['neutral']:.0%} | {share['positive']:.0%} |")


if __name__ == "__main__":
    main()
