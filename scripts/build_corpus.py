"""Merge the annotators' corpus batches into data/labels/corpus.csv; measure their agreement.

    .venv/bin/python scripts/build_corpus.py                      # corpus.csv + agreement
    .venv/bin/python scripts/build_corpus.py --disagreements F.csv  # rows for adjudication

Each first-pass batch `corpus/out/cNN.txt` labels the rows of `corpus/in/cNN.csv`; second-pass
batches `dNN.txt` label 10 % of the rows again, by other annotator sessions that did not see
the first labels. Lines are `id|sentiment|failures|responses` in the short codes of
scripts/build_gold.py. Every file is checked: one line per input row, same ids, allowed codes.

Agreement is Cohen's kappa per label (sentiment as three classes, each failure type and
response as yes/no) over the doubly labelled rows, written to
`artifacts/corpus_agreement.json`. Where the two annotators differ, the adjudicator's line in
`corpus/adjudication/aNN.txt` decides (a third session that read the text and both labels,
following guide version 3).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import pandas as pd
from sklearn.metrics import cohen_kappa_score

from mining.classify.data import LABEL_CODES as CODES
from mining.classify.data import SENTIMENT_CODES as SENTIMENT
from mining.classify.data import LabelIds, corpus_split
from mining.redact import redact

IDS = LabelIds.load()  # the taxonomy's ids (run from the repository root)
FAILURE_TYPES, RESPONSES = IDS.failure_types, IDS.responses
FAILURE_CODES = {c for c, v in CODES.items() if v in FAILURE_TYPES}
RESPONSE_CODES = {c for c, v in CODES.items() if v in RESPONSES}
ANNOTATOR = "claude (AI assistant acting as annotator, helper session {batch})"
LABELLED_AT = "2026-12-01"
# Batches labelled on another day than LABELLED_AT: the third, fourth and fifth supplements
# (`vNN`, `wNN`, `xNN`, second passes `d10`-`d12`); adjudicated rows keep their first batch's day.
LABELLED_ON = {batch: "2026-12-02" for batch in [f"v{n:02d}" for n in range(1, 8)] + ["d10"]
               + [f"w{n:02d}" for n in range(1, 8)] + ["d11"]
               + [f"x{n:02d}" for n in range(1, 9)] + ["d12"]}
# Guide version 3 (the clarifications) was written after the first batches came back; the
# batches started after it, and the adjudication, followed it.
# The second supplement (`uNN`, second pass `d09`) was labelled by version 3 too.
V3_BATCHES = ({f"c{n:02d}" for n in range(46, 63)} | {f"u{n:02d}" for n in range(1, 7)}
              | set(LABELLED_ON) | {"d07", "d08", "d09", "s02", "adjudicated"})
COLUMNS = ["id", "origin", "origin_file", "origin_row", "strategy", "language", "text",
           "sentiment", "failure_types", "response", "split", "labeller", "labelled_at", "notes",
           "domain", "guide_version"]


def _decode(field: str, allowed: set[str], where: str) -> str:
    if field == "-":
        return "none"
    codes = field.split(";")
    bad = [c for c in codes if c not in allowed]
    if bad or len(set(codes)) != len(codes):
        raise SystemExit(f"{where}: codes {bad or codes} not allowed here")
    if "oth" in codes and len(codes) > 1 and allowed is FAILURE_CODES:
        codes = [c for c in codes if c != "oth"]  # `other` means none of the named types
    return ";".join(CODES[c] for c in codes)


def read_labels(path: Path, expected: list[str]) -> pd.DataFrame:
    """One batch output, checked against its input ids."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        parts = [p.strip() for p in line.strip().split("|")]
        if len(parts) != 4 or parts[1] not in SENTIMENT:
            raise SystemExit(f"{where}: cannot read {line!r}")
        rows.append({"id": parts[0], "sentiment": SENTIMENT[parts[1]],
                     "failure_types": _decode(parts[2], FAILURE_CODES, where),
                     "response": _decode(parts[3], RESPONSE_CODES, where)})
    frame = pd.DataFrame(rows, columns=["id", "sentiment", "failure_types", "response"])
    if frame["id"].duplicated().any():
        raise SystemExit(f"{path}: ids labelled twice: "
                         f"{frame['id'][frame['id'].duplicated()].tolist()[:5]}")
    if sorted(frame["id"]) != sorted(expected):
        missing = sorted(set(expected) - set(frame["id"]))
        extra = sorted(set(frame["id"]) - set(expected))
        raise SystemExit(f"{path}: ids differ from its batch (missing {missing[:5]}, "
                         f"unexpected {extra[:5]})")
    return frame


def read_passes(root: Path, partial: bool) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """First-pass labels (with the batch that labelled them), second-pass labels, and the
    batches not labelled yet (with `partial`, also those still being written)."""
    first, second, pending = [], [], []
    for batch in sorted((root / "in").glob("*.csv")):
        out = root / "out" / f"{batch.stem}.txt"
        expected = pd.read_csv(batch, dtype=str)["id"].tolist()
        if not out.is_file() or (partial and len(out.read_text(encoding="utf-8").split())
                                 < len(expected)):
            pending.append(batch.stem)
            continue
        labels = read_labels(out, expected)
        labels["batch"] = batch.stem
        (second if batch.stem.startswith("d") else first).append(labels)
    columns = ["id", "sentiment", "failure_types", "response", "batch"]
    return (pd.concat(first, ignore_index=True) if first else pd.DataFrame(columns=columns),
            pd.concat(second, ignore_index=True) if second else pd.DataFrame(columns=columns),
            pending)


def read_adjudication(folder: Path) -> pd.DataFrame | None:
    """The adjudicators' decisions (`aNN.txt` for the rows of `aNN.csv`)."""
    parts = [read_labels(out, pd.read_csv(out.with_suffix(".csv"), dtype=str)["id"].tolist())
             for out in sorted(folder.glob("a*.txt"))]
    return pd.concat(parts, ignore_index=True) if parts else None


def _has(values: pd.Series, label: str) -> list[int]:
    return [int(label in v.split(";")) for v in values]


def _label_sets(values: pd.Series) -> pd.Series:
    """`;`-joined ids as sorted strings: the same labels in another order are no disagreement."""
    return values.map(lambda v: ";".join(sorted(v.split(";"))))


def agreement(both: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Cohen's kappa, raw agreement and positives per label over the doubly labelled rows."""
    out = {}
    kappa = cohen_kappa_score(both["sentiment_a"], both["sentiment_b"])
    out["sentiment"] = {"kappa": round(float(kappa), 3), "n": len(both),
                        "agreement": round(float((both["sentiment_a"] == both["sentiment_b"])
                                                 .mean()), 3)}
    for column, labels in (("failure_types", FAILURE_TYPES), ("response", RESPONSES)):
        for label in labels:
            a, b = _has(both[f"{column}_a"], label), _has(both[f"{column}_b"], label)
            same = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
            value = cohen_kappa_score(a, b) if len(set(a) | set(b)) > 1 else float("nan")
            out[label] = {"kappa": round(float(value), 3), "agreement": round(same, 3),
                          "positives_a": sum(a), "positives_b": sum(b)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=Path("data/labels"))
    parser.add_argument("--disagreements", type=Path, default=None,
                        help="write the doubly labelled rows whose labels differ and that no "
                        "adjudication file decides yet, in the adjudicator's format")
    parser.add_argument("--partial", action="store_true",
                        help="build from the batches labelled so far")
    args = parser.parse_args()
    root = args.labels / "corpus"
    candidates = pd.read_csv(args.labels / "corpus_candidates.csv", dtype=str)
    first, second, pending = read_passes(root, args.partial)
    if pending and not args.partial:
        raise SystemExit(f"batches not labelled yet: {', '.join(pending)} (or pass --partial)")
    both = first.merge(second, on="id", suffixes=("_a", "_b"))
    differs = both[(both["sentiment_a"] != both["sentiment_b"])
                   | (_label_sets(both["failure_types_a"]) != _label_sets(both["failure_types_b"]))
                   | (_label_sets(both["response_a"]) != _label_sets(both["response_b"]))]
    if args.disagreements:
        done = read_adjudication(root / "adjudication")
        pending_rows = differs[~differs["id"].isin(set() if done is None else set(done["id"]))]
        table = pending_rows.merge(candidates[["id", "domain", "language", "text"]], on="id")
        for side, number in (("a", 1), ("b", 2)):
            table[f"annotator_{number}"] = [
                f"sentiment={s}; failures={f}; responses={r}" for s, f, r in zip(
                    table[f"sentiment_{side}"], table[f"failure_types_{side}"],
                    table[f"response_{side}"], strict=True)]
        table[["id", "domain", "language", "text", "annotator_1", "annotator_2"]].to_csv(
            args.disagreements, index=False)
        print(f"{len(differs)} of {len(both)} doubly labelled rows differ, {len(table)} not "
              f"adjudicated yet: {args.disagreements}")
        return
    report = {"doubly_labelled": len(both), "rows_differing": len(differs),
              "labels": agreement(both) if len(both) else {}}
    adjudicated = read_adjudication(root / "adjudication")
    if adjudicated is not None:
        unresolved = sorted(set(differs["id"]) - set(adjudicated["id"]))
        if unresolved and not args.partial:
            raise SystemExit(f"{len(unresolved)} disagreements not adjudicated: "
                             f"{unresolved[:5]} ...")
    labels = first.set_index("id")
    labels["labeller"] = [ANNOTATOR.format(batch=b) for b in labels["batch"]]
    labels["notes"] = ""
    labels["labelled_at"] = [LABELLED_ON.get(b, LABELLED_AT) for b in labels["batch"]]
    seconds = both.set_index("id")["batch_b"]
    for item, batch in seconds.items():
        labels.loc[item, "labeller"] += f"; second annotator: helper session {batch}"
    resolved = 0
    if adjudicated is not None:
        for row in adjudicated.itertuples(index=False):
            labels.loc[row.id, ["sentiment", "failure_types", "response"]] = [
                row.sentiment, row.failure_types, row.response]
            labels.loc[row.id, "labeller"] += "; disagreement adjudicated by a third session"
            labels.loc[row.id, "notes"] = "adjudicated"
            labels.loc[row.id, "batch"] = "adjudicated"
            resolved += 1
    report["rows_adjudicated"] = resolved
    corpus = candidates.merge(labels.reset_index(), on="id", how="inner", validate="one_to_one")
    corpus["text"] = corpus["text"].map(redact)
    corpus["split"] = corpus["id"].map(corpus_split)
    corpus["guide_version"] = ["3" if b in V3_BATCHES or n == "adjudicated" else "2"
                               for b, n in zip(corpus["batch"], corpus["notes"], strict=True)]
    corpus[COLUMNS].to_csv(args.labels / "corpus.csv", index=False)
    Path("artifacts").mkdir(exist_ok=True)
    Path("artifacts/corpus_agreement.json").write_text(json.dumps(report, indent=2))
    print(f"{len(corpus)} labelled texts written to {args.labels / 'corpus.csv'}"
          f"{' (partial: ' + str(len(pending)) + ' batches pending)' if pending else ''}")
    print(f"doubly labelled {len(both)}, differing {len(differs)}, adjudicated {resolved}")
    if report["labels"]:
        print("| label | kappa | agreement |\n|---|---|---|")
        for label, values in report["labels"].items():
            print(f"| {label} | {values['kappa']} | {values['agreement']} |")
    counts(corpus)


def counts(corpus: pd.DataFrame) -> None:
    """Label counts per split, and rows per domain, language and split (README tables)."""
    table = []
    for part in ("train", "dev", "test"):
        subset = corpus[corpus["split"] == part]
        found: Counter[str] = Counter()
        for column in ("failure_types", "response"):
            for value in subset[column]:
                found.update(v for v in value.split(";") if v != "none")
        found.update(f"sentiment:{s}" for s in subset["sentiment"])
        table.append(pd.Series(found, name=f"{part} ({len(subset)})"))
    frame = pd.concat(table, axis=1).fillna(0).astype(int).sort_index()
    frame["all"] = frame.sum(axis=1)
    print(_markdown(frame, "label"))
    per_domain = corpus.pivot_table(index=["domain", "language"], columns="split", values="id",
                                    aggfunc="count", fill_value=0)
    per_domain.index = [f"{d} ({lang})" for d, lang in per_domain.index]
    per_domain["all"] = per_domain.sum(axis=1)
    print(_markdown(per_domain, "domain (language)"))


def _markdown(frame: pd.DataFrame, first: str) -> str:
    lines = [f"| {first} | " + " | ".join(str(c) for c in frame.columns) + " |",
             "|---|" + "---|" * len(frame.columns)]
    lines += [f"| {index} | " + " | ".join(str(v) for v in row) + " |"
              for index, row in frame.iterrows()]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
