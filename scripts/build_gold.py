"""Merge the hand-labelled batches into data/labels/gold.csv with a fixed train/test split.

    .venv/bin/python scripts/build_gold.py

Batch files (`data/labels/batches/*.txt`) hold one line per text: `id|sentiment|failures|
responses`, with short codes (see CODES) and `-` for none. The split is seeded and stratified so
that the held-out `test` part has positives of every response label and of the rare types.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pandas as pd

from mining.classify.data import LABEL_CODES as CODES
from mining.classify.data import SENTIMENT_CODES as SENTIMENT
from mining.redact import redact

SEED = 20261123
TEST_SHARE = 0.35
RARE = ["voice", "exit", "word_of_mouth", "third_party", "promise_mismatch", "system_failure"]
LABELLER = "claude (AI assistant acting as annotator, following data/labels/GUIDE.md)"
# Labelling rounds, by candidate id. Each round is split on its own, so adding a round never
# moves a row of an earlier round between train and test.
ROUNDS = [  # (last id of the round, labelled on)
    ("g0444", "2026-11-23"),
    ("g9999", "2026-11-24"),
]


def decode(field: str) -> str:
    if field == "-":
        return "none"
    return ";".join(CODES[code] for code in field.split(";"))


def read_batches(folder: Path) -> pd.DataFrame:
    rows = []
    for path in sorted(folder.glob("*.txt")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item, sentiment, failures, responses = line.split("|")
                rows.append({"id": item, "sentiment": SENTIMENT[sentiment],
                             "failure_types": decode(failures), "response": decode(responses)})
            except (ValueError, KeyError) as exc:
                raise SystemExit(f"{path}:{number}: cannot read {line!r} ({exc})") from exc
    frame = pd.DataFrame(rows)
    duplicated = frame["id"][frame["id"].duplicated()].tolist()
    if duplicated:
        raise SystemExit(f"labelled twice: {duplicated}")
    return frame


def split(frame: pd.DataFrame, seed: int) -> list[str]:
    """Seeded split: rows with a rare label are dealt first so both parts get some of each."""
    frame = frame.reset_index(drop=True)
    rng = random.Random(seed)
    labels = (frame["failure_types"] + ";" + frame["response"]).str.split(";")
    order = list(range(len(frame)))
    rng.shuffle(order)
    test_count: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    result = ["train"] * len(frame)
    n_test = round(len(frame) * TEST_SHARE)
    chosen = 0
    for rare_first in (True, False):
        for i in order:
            rare = [x for x in labels[i] if x in RARE]
            if bool(rare) != rare_first:
                continue
            for x in rare:
                seen[x] += 1
            # Send a row to test while its rarest label has less than its share there.
            needs = any(test_count[x] < TEST_SHARE * seen[x] for x in rare) if rare else (
                chosen < n_test)
            if needs and chosen < n_test:
                result[i] = "test"
                chosen += 1
                for x in rare:
                    test_count[x] += 1
    return result


def main() -> None:
    root = Path("data/labels")
    candidates = pd.read_csv(root / "candidates.csv", dtype=str)
    labels = read_batches(root / "batches")
    gold = candidates.merge(labels, on="id", how="inner", validate="one_to_one")
    missing = sorted(set(candidates["id"]) - set(labels["id"]))
    if missing:
        raise SystemExit(f"not labelled yet: {missing[:10]} ... ({len(missing)})")
    # The texts are public data, but the project never stores PII: redact as the pipeline does.
    gold["text"] = gold["text"].map(redact)
    gold["split"], gold["labelled_at"] = "", ""
    first = "g0000"
    for number, (last, labelled_at) in enumerate(ROUNDS):
        rows = (gold["id"] > first) & (gold["id"] <= last)
        gold.loc[rows, "split"] = split(gold[rows], SEED + number)
        gold.loc[rows, "labelled_at"] = labelled_at
        first = last
    gold["labeller"] = LABELLER
    gold["notes"] = ""
    columns = ["id", "origin", "origin_file", "origin_row", "strategy", "language", "text",
               "sentiment", "failure_types", "response", "split", "labeller", "labelled_at",
               "notes"]
    gold[columns].to_csv(root / "gold.csv", index=False)
    print(f"{len(gold)} labelled texts written to {root / 'gold.csv'}")
    table = []
    for part in ("train", "test"):
        subset = gold[gold["split"] == part]
        counts: Counter[str] = Counter()
        for column in ("failure_types", "response"):
            for value in subset[column]:
                counts.update(v for v in value.split(";") if v != "none")
        counts.update(f"sentiment:{s}" for s in subset["sentiment"])
        counts.update(f"language:{s}" for s in subset["language"])
        table.append(pd.Series(counts, name=f"{part} ({len(subset)})"))
    counts_table = pd.concat(table, axis=1).fillna(0).astype(int).sort_index()
    print("| label | " + " | ".join(counts_table.columns) + " |")
    print("|---|" + "---|" * len(counts_table.columns))
    for label, row in counts_table.iterrows():
        print(f"| {label} | " + " | ".join(str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
