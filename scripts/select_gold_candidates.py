"""Draw the texts of the hand-labelled gold set from ../shared/data (seeded, deterministic).

    .venv/bin/python scripts/select_gold_candidates.py --out data/labels/candidates.csv

Texts come only from rows the classifier never trains on as public data: the `dev` split of
each set (see `split_of` in src/mining/classify/data.py) and chinese_online_shopping, which the
training config does not use. Response signals are rare, so part of each draw is *enriched*:
rows matching a broad list of phrases about complaining, leaving, warning others or going to a
third party. The `strategy` column says which rows were drawn how; enriched rows make response
labels far more common in the gold set than in real feedback.
"""

from __future__ import annotations

import argparse
import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pandas as pd

from mining.classify.data import split_of

SEED = 20261123
ENRICH = re.compile(
    r"complain|call(ed)?|phone|email|manager|refund|never|again|switch|other airline|"
    r"last time|friends|family|everyone|warn|avoid|recommend|review|twitter|lawyer|attorney|"
    r"sue|court|bbb|cfpb|dot\b|news|media|report|promis|advertis|website|app\b|online|system|"
    r"crash|error|glitch|booking|reservation|told|said|"
    r"投诉|电话|经理|退|再也|不会再|下次|朋友|大家|千万|推荐|宣传|描述|不符|网上|系统|预订|携程|艺龙",
    re.IGNORECASE)

# A second, separate draw for third-party signals, the rarest response (own seed, so the
# first draw above stays as it was).
THIRD_PARTY = re.compile(
    r"lawyer|attorney|legal|lawsuit|\bsue\b|court|bbb|better business|cfpb|ftc|regulat|"
    r"\bdot\b|faa|news|media|reporter|police|ombudsman|attorney general|"
    r"消协|消费者协会|12315|工商|媒体|律师|起诉|曝光|法院",
    re.IGNORECASE)
THIRD_PARTY_PLAN = {"airline": 8, "cfpb": 12, "chnsenticorp_hotel": 3,
                    "chinese_online_shopping": 3}

PLAN = {  # origin: (random, enriched)
    "airline": (120, 70),
    "chnsenticorp_hotel": (45, 35),
    "chinese_online_shopping": (20, 25),
    "cfpb": (25, 25),
    "restaurants": (45, 10),
}


def _rows(shared: Path) -> dict[str, list[tuple[str, int, str, str]]]:
    """origin -> (origin file, row number, language, text) for eligible rows."""
    out: dict[str, list[tuple[str, int, str, str]]] = {k: [] for k in PLAN}
    tweets = pd.read_csv(shared / "airline_tweets" / "tweets.csv", dtype={"tweet_id": str})
    for i, row in enumerate(tweets.itertuples(index=False)):
        if split_of(f"airline:{row.tweet_id}") == "dev":
            out["airline"].append(("airline_tweets/tweets.csv", i + 2, "en", str(row.text)))
    hotel = pd.read_csv(shared / "chnsenticorp_hotel" / "reviews.csv")
    for i, review in enumerate(hotel["review"]):
        if isinstance(review, str) and split_of(f"chnsenticorp:{i}") == "dev":
            out["chnsenticorp_hotel"].append(("chnsenticorp_hotel/reviews.csv", i + 2, "zh",
                                              review))
    shop = pd.read_csv(shared / "chinese_online_shopping" / "reviews.csv")
    for i, review in enumerate(shop["review"]):
        if isinstance(review, str) and len(review) >= 8:
            out["chinese_online_shopping"].append(("chinese_online_shopping/reviews.csv", i + 2,
                                                   "zh", review))
    cfpb = pd.read_csv(shared / "cfpb_complaints" / "complaints_sample.csv",
                       dtype={"Complaint ID": str})
    for i, row in cfpb.iterrows():
        text = row["Consumer complaint narrative"]
        if isinstance(text, str) and split_of(f"cfpb:{row['Complaint ID']}") == "dev":
            out["cfpb"].append(("cfpb_complaints/complaints_sample.csv", int(i) + 2, "en",
                                text[:700]))
    for name in ("semeval2014_restaurants/train.xml", "mams_acsa/train.xml"):
        dataset = "semeval" if name.startswith("semeval") else "mams"
        for index, sentence in enumerate(ET.parse(shared / name).getroot().iter("sentence")):
            uid = f"{dataset}:{sentence.get('id') or index}"
            text = (sentence.findtext("text") or "").strip()
            if text and split_of(uid) == "dev":
                out["restaurants"].append((name, index + 1, "en", text))
    return out


def _frame(chosen: list[tuple[Any, ...]], first_id: int) -> pd.DataFrame:
    """Candidates as a table: whitespace collapsed, ids numbered on from `first_id`."""
    frame = pd.DataFrame(chosen, columns=["origin", "strategy", "origin_file", "origin_row",
                                          "language", "text"])
    frame["text"] = frame["text"].str.replace(r"\s+", " ", regex=True).str.strip()
    frame.insert(0, "id", [f"g{i:04d}" for i in range(first_id, first_id + len(frame))])
    return frame


def select(rows_by_origin: dict[str, list[tuple[str, int, str, str]]]) -> pd.DataFrame:
    rng = random.Random(SEED)
    chosen = []
    for origin, rows in rows_by_origin.items():
        n_random, n_enriched = PLAN[origin]
        picked = rng.sample(rows, n_random)
        taken = {r[:2] for r in picked}
        matching = [r for r in rows if ENRICH.search(r[3]) and r[:2] not in taken]
        enriched = rng.sample(matching, n_enriched)
        chosen += [(origin, "random", *r) for r in picked]
        chosen += [(origin, "enriched", *r) for r in enriched]
    extra_rng = random.Random(SEED + 1)
    taken_all = {(c[0], c[3]) for c in chosen}
    for origin, count in THIRD_PARTY_PLAN.items():
        matching = [r for r in rows_by_origin[origin]
                    if THIRD_PARTY.search(r[3]) and (origin, r[1]) not in taken_all]
        chosen += [(origin, "enriched_third_party", *r)
                   for r in extra_rng.sample(matching, min(count, len(matching)))]
    return _frame(chosen, first_id=1)


# Round two (2026-11-24): more response, promise and IT signals, the labels the first round had
# too few of to learn from. Its own seed; the rows of round one are excluded and keep their ids.
ROUND_TWO = re.compile(
    r"never (again|fly|flying|stay|use|go|come|return|buy)|won'?t be (back|flying|using)|"
    r"switch|another airline|other airline|last time|close[d]? (my|the) account|"
    r"tell (everyone|all|my)|friends|warn|avoid|recommend|stay away|don'?t (fly|stay|book|buy)|"
    r"call(ed)?|on hold|complain|e-?mail(ed)?|\bdm\b|spoke|manager|dispute|"
    r"lawyer|attorney|legal|lawsuit|\bsue\b|court|bbb|cfpb|ftc|regulat|\bdot\b|news|media|"
    r"promis|advertis|website|\bapp\b|online|system|crash|glitch|error|"
    r"再也不|不会再|最后一次|朋友|大家|千万|推荐|劝|投诉|客服|电话|经理|前台|消协|12315|工商|"
    r"媒体|律师|曝光|宣传|描述|不符|图片|承诺|系统|网站|网上",
    re.IGNORECASE)
ROUND_TWO_PLAN = {"airline": 140, "cfpb": 80, "chnsenticorp_hotel": 60,
                  "chinese_online_shopping": 60, "restaurants": 20}


def select_round_two(rows_by_origin: dict[str, list[tuple[str, int, str, str]]],
                     first: pd.DataFrame) -> pd.DataFrame:
    rng = random.Random(SEED + 2)
    taken = set(zip(first["origin_file"], first["origin_row"].astype(int), strict=True))
    chosen = []
    for origin, rows in rows_by_origin.items():
        matching = [r for r in rows if ROUND_TWO.search(r[3]) and r[:2] not in taken]
        chosen += [(origin, "enriched_round2", *r)
                   for r in rng.sample(matching, min(ROUND_TWO_PLAN[origin], len(matching)))]
    return _frame(chosen, first_id=len(first) + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("data/labels/candidates.csv"))
    args = parser.parse_args()
    rows_by_origin = _rows(args.shared)
    first = select(rows_by_origin)
    frame = pd.concat([first, select_round_two(rows_by_origin, first)], ignore_index=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    print(f"{len(frame)} candidates written to {args.out}")


if __name__ == "__main__":
    main()
