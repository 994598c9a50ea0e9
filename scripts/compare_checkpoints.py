"""Are two trained models the same weights? Compares their fp32 checkpoints bit for bit.

    .venv/bin/python scripts/compare_checkpoints.py models/radar-e5/A models/radar-e5/B

Every tensor is compared with torch.equal. The word-embedding tables may differ in size, because
each model's vocabulary is trimmed to its own training corpus. Those rows are matched by token
piece, and each piece the two share must have the same vector. Exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

EMBEDDINGS = "encoder.embeddings.word_embeddings.weight"


def pieces(model_dir: Path) -> list[str]:
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    return [entry[0] for entry in tokenizer["model"]["vocab"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    args = parser.parse_args()
    for model_dir in (args.first, args.second):
        for name in ("checkpoint/model.pt", "tokenizer.json"):
            if not (model_dir / name).is_file():
                parser.error(f"{model_dir / name} not found (the checkpoint is written by "
                             "`mining train` and not committed)")
    a, b = (torch.load(d / "checkpoint" / "model.pt") for d in (args.first, args.second))
    differing = sorted(k for k in a.keys() | b.keys()
                       if k != EMBEDDINGS and (k not in a or k not in b
                                               or not torch.equal(a[k], b[k])))
    vocab_a, vocab_b = pieces(args.first), pieces(args.second)
    row_b = {piece: i for i, piece in enumerate(vocab_b)}
    shared = [(i, row_b[piece]) for i, piece in enumerate(vocab_a) if piece in row_b]
    rows_differing = sum(not torch.equal(a[EMBEDDINGS][i], b[EMBEDDINGS][j]) for i, j in shared)
    print(f"tensors: {len(a)} vs {len(b)}; differing (word embeddings aside): "
          f"{differing or 'none'}")
    print(f"vocabulary: {len(vocab_a)} vs {len(vocab_b)} pieces, {len(shared)} shared; "
          f"shared embedding rows differing: {rows_differing}")
    sys.exit(1 if differing or rows_differing else 0)


if __name__ == "__main__":
    main()
