"""Draw the texts of the labelled corpus (model v2) from the shared data (seeded, deterministic).

    .venv/bin/python scripts/draw_corpus.py [--shared ../shared/data]

Writes `data/labels/corpus_candidates.csv` and the annotators' batches under
`data/labels/corpus/in/` (`cNN.csv`, about 135 texts each, domains mixed) plus second-pass batches
(`dNN.csv`) that hold 10 % of the rows again for an independent annotator.

Eligible rows: every row of the sets that public training does not read (hotel, restaurant,
delivery and e-commerce reviews, the CFPB narrative file), and only the `dev` split of the sets
it does read (airline tweets, ChnSentiCorp, SemEval/MAMS, the CFPB sample), so no labelled text is
also a public training or validation text. Rows of the gold set are excluded, as is any text
seen twice. Each origin's draw is part random (half of it from the writer's low ratings, where
failures are), part *enriched*: rows matching a broad phrase list for one rare label, dealt
round-robin over the labels so each gets candidates. The phrases only choose which texts are
read; annotators decide every label. Texts are whitespace-collapsed and cut at 1,200 characters.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mining.classify.data import split_of

SEED = 20261201
MAX_CHARS = 1200
BATCH_SIZE = 135
SECOND_PASS_SHARE = 10  # percent of rows labelled twice

ENRICH = {
    "third_party": r"lawyer|attorney|legal action|lawsuit|\bsue\b|\bsued\b|small claims|\bcourt\b|"
                   r"\bbbb\b|better business|cfpb|consumer financial|\bftc\b|regulator|"
                   r"health (department|inspector|board)|police|ombudsman|\bnews\b|\bmedia\b|"
                   r"reporter|trading standards|\bdot\b|\bfaa\b|attorney general|"
                   r"消协|消费者协会|12315|工商|媒体|律师|起诉|曝光|报警|法院|315",
    "exit": r"never (again|go|come|return|stay|eat|buy|use|order|book|fly)|won'?t be (back|"
            r"returning|coming|flying)|not (be )?(coming|going) back|last time|switch|"
            r"close[d]? (my|the) account|再也不|不会再|最后一次|拉黑|不会再来|不会再买",
    "word_of_mouth": r"avoid|stay away|\bwarn|not recommend|n'?t recommend|tell (all|every|my)|"
                     r"told (all|every|my)|friends|don'?t (waste|go|stay|eat|buy|order)|"
                     r"千万|不推荐|劝|大家别|大家不要|朋友|告诉",
    "voice": r"complain|manager|called|emailed|front desk|customer (service|care)|refund|"
             r"told the|asked (the|for)|dispute|投诉|客服|前台|经理|打电话|反映|退款|退货",
    "promise_mismatch": r"advertis|as described|picture|photo|promis|misleading|not what|"
                        r"description|fake|描述|不符|图片|宣传|承诺|假货|实物|照片|不一样",
    "system_failure": r"website|\bapp\b|online|system|wi-?fi|internet|crash|glitch|\berror|"
                      r"payment|系统|网站|网络|无线|宽带|宽带|上网|支付|订单",
    "failure": r"rude|dirty|wait|slow|wrong|cold|overcharg|expensive|broken|smell|noise|noisy|"
               r"cancel|delay|态度|脏|慢|等|错|贵|坏|吵|差",
}

# The rarest label gets two turns in each round of the enriched draw.
TURNS = {"third_party": 2}
# origin: (planned rows, share drawn at random)
PLAN: dict[str, tuple[int, float]] = {
    "airline": (600, 0.4),
    "cfpb": (800, 0.4),
    "datafiniti_hotels": (1250, 0.4),
    "booking_hotels": (650, 0.4),
    "zh_hotels": (900, 0.4),
    "yelp_restaurants": (900, 0.4),
    "zomato_restaurants": (800, 0.4),
    "restaurant_sentences": (100, 0.6),
    "zh_dianping": (800, 0.5),
    "zh_shopping": (1100, 0.4),
    "flipkart": (250, 0.5),
    "amazon_alexa": (150, 0.5),
}
LANGUAGE = {"airline": "en", "cfpb": "en", "datafiniti_hotels": "en", "booking_hotels": "en",
            "zh_hotels": "zh", "yelp_restaurants": "en", "zomato_restaurants": "en",
            "restaurant_sentences": "en", "zh_dianping": "zh", "zh_shopping": "zh",
            "flipkart": "en", "amazon_alexa": "en"}
DOMAIN = {"airline": "airline", "cfpb": "banking", "datafiniti_hotels": "hotel",
          "booking_hotels": "hotel", "zh_hotels": "hotel", "yelp_restaurants": "restaurant",
          "zomato_restaurants": "restaurant", "restaurant_sentences": "restaurant",
          "zh_dianping": "restaurant", "zh_shopping": "ecommerce", "flipkart": "ecommerce",
          "amazon_alexa": "ecommerce"}


@dataclass(frozen=True)
class Row:
    origin: str
    origin_file: str
    origin_row: int  # 1-based line of the data row in its file (header is line 1)
    text: str
    low: bool  # the writer's own rating or label is low


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_CHARS:
        cut = text[:MAX_CHARS]
        space = cut.rfind(" ")
        text = (cut[:space] if space > MAX_CHARS * 0.8 else cut) + " …"
    return text


def _low(value: object, scale: float) -> bool:
    try:
        return float(str(value)) <= scale
    except ValueError:
        return False


def eligible_rows(shared: Path) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {k: [] for k in PLAN}

    def add(origin: str, file: str, row: int, text: object, low: bool) -> None:
        if isinstance(text, str) and len(text.strip()) >= 8:
            out[origin].append(Row(origin, file, row, _clean(text), low))

    tweets = pd.read_csv(shared / "airline_tweets" / "tweets.csv", dtype={"tweet_id": str})
    for i, t in enumerate(tweets.itertuples(index=False)):
        if split_of(f"airline:{t.tweet_id}") == "dev":
            add("airline", "airline_tweets/tweets.csv", i + 2, t.text,
                t.airline_sentiment == "negative")
    cfpb = pd.read_csv(shared / "cfpb_complaints" / "complaints_sample.csv",
                       dtype={"Complaint ID": str})
    for i, r in cfpb.iterrows():
        if split_of(f"cfpb:{r['Complaint ID']}") == "dev":
            add("cfpb", "cfpb_complaints/complaints_sample.csv", int(i) + 2,
                r["Consumer complaint narrative"], True)
    for i, r in pd.read_csv(shared / "cfpb_complaint_narratives" / "reviews.csv",
                            dtype=str).iterrows():
        add("cfpb", "cfpb_complaint_narratives/reviews.csv", int(i) + 2, r["text"], True)
    hotel = pd.read_csv(shared / "chnsenticorp_hotel" / "reviews.csv")
    public_hotel = set()
    for i, r in enumerate(hotel.itertuples(index=False)):
        if not isinstance(r.review, str):
            continue
        if split_of(f"chnsenticorp:{i}") == "dev":
            add("zh_hotels", "chnsenticorp_hotel/reviews.csv", i + 2, r.review, r.label == 0)
        else:  # trained on or held out as public validation: keep out of the corpus
            public_hotel.add(_clean(r.review))
    shop = pd.read_csv(shared / "chinese_online_shopping" / "reviews.csv")
    for i, r in enumerate(shop.itertuples(index=False)):
        if not isinstance(r.review, str):
            continue
        text = r.review.lstrip("\ufeff")
        if r.cat == "酒店":
            if _clean(text) not in public_hotel:
                add("zh_hotels", "chinese_online_shopping/reviews.csv", i + 2, text, r.label == 0)
        else:
            add("zh_shopping", "chinese_online_shopping/reviews.csv", i + 2, text, r.label == 0)
    simple = [("datafiniti_hotels", "datafiniti_hotels/reviews.csv", 2.0),
              ("booking_hotels", "booking_hotels/reviews.csv", 6.0),
              ("yelp_restaurants", "yelp_restaurants/reviews.csv", 2.0),
              ("zomato_restaurants", "zomato_hyderabad_restaurants/reviews.csv", 2.0),
              ("zh_dianping", "zh_dianping_small/reviews.csv", 0.0),
              ("flipkart", "flipkart_product_reviews/reviews.csv", 2.0),
              ("amazon_alexa", "amazon_alexa_reviews/reviews.csv", 2.0)]
    for origin, file, low_at in simple:
        frame = pd.read_csv(shared / file, dtype=str, keep_default_na=False)
        for i, r in frame.iterrows():
            add(origin, file, int(i) + 2, r["text"], _low(r["rating_or_label"], low_at))
    for name in ("semeval2014_restaurants/train.xml", "mams_acsa/train.xml"):
        dataset = "semeval" if name.startswith("semeval") else "mams"
        for index, sentence in enumerate(ET.parse(shared / name).getroot().iter("sentence")):
            if split_of(f"{dataset}:{sentence.get('id') or index}") == "dev":
                polarities = {a.get("polarity") for a in sentence.iter("aspectCategory")}
                add("restaurant_sentences", name, index + 1, sentence.findtext("text"),
                    "negative" in polarities)
    return out


def numbered(frame: pd.DataFrame, seed: int, first: int) -> pd.DataFrame:
    """`frame`'s rows in a seeded order, with ids `c<first>`, `c<first + 1>`, ..."""
    order = list(range(len(frame)))
    random.Random(seed).shuffle(order)
    frame = frame.iloc[order].reset_index(drop=True)
    frame.insert(0, "id", [f"c{i:05d}" for i in range(first, first + len(frame))])
    return frame


def draw(rows_by_origin: dict[str, list[Row]], excluded: set[tuple[str, int]],
         excluded_texts: set[str]) -> pd.DataFrame:
    rng = random.Random(SEED)
    seen_texts = set(excluded_texts)
    chosen: list[tuple[Row, str]] = []
    patterns = {k: re.compile(v, re.IGNORECASE) for k, v in ENRICH.items()}
    for origin, (planned, random_share) in PLAN.items():
        pool = [r for r in rows_by_origin[origin]
                if (r.origin_file, r.origin_row) not in excluded]
        rng.shuffle(pool)
        picked: list[tuple[Row, str]] = []

        def take(row: Row, strategy: str, picked: list[tuple[Row, str]] = picked) -> bool:
            if row.text in seen_texts:
                return False
            seen_texts.add(row.text)
            picked.append((row, strategy))
            return True

        n_random = round(planned * random_share)
        low = [r for r in pool if r.low]
        for row in low[: n_random // 2]:
            take(row, "random_low_rating")
        for row in pool:
            if len(picked) >= n_random:
                break
            take(row, "random")
        queues = {label: [r for r in pool if p.search(r.text)] for label, p in patterns.items()}
        while len(picked) < planned and any(queues.values()):
            for label, queue in queues.items():
                for _ in range(TURNS.get(label, 1)):
                    while queue and len(picked) < planned:
                        if take(queue.pop(), f"enriched_{label}"):
                            break
        for row in pool:  # a small origin whose phrase matches ran out: fill at random
            if len(picked) >= planned:
                break
            take(row, "random")
        chosen += picked
        print(f"{origin:22s} eligible {len(pool):6d}  drawn {len(picked)}")
    frame = pd.DataFrame(
        [(r.origin, DOMAIN[r.origin], s, r.origin_file, r.origin_row, LANGUAGE[r.origin], r.text)
         for r, s in chosen],
        columns=["origin", "domain", "strategy", "origin_file", "origin_row", "language", "text"])
    return numbered(frame, SEED + 1, 1)


# A supplementary draw (own seed, after the first batches were labelled): the first 2,835
# labelled texts projected about 220 third-party positives for the whole corpus, short of the
# 300 wanted, so a further set of rows matching stricter third-party phrases is read.
SUPPLEMENT_SEED = SEED + 7
THIRD_PARTY_STRICT = (
    r"lawyer|attorney|lawsuit|\bsue\b|\bsued\b|suing|small claims|\bbbb\b|better business|"
    r"\bftc\b|regulator|health (department|inspector|dept)|police|ombudsman|reporter|"
    r"trading standards|\bdot\b|\bfaa\b|consumer (forum|court|protection)|"
    r"(complaint|complained|report(ed)?) (with|to) the|"
    r"消协|消费者协会|12315|工商|律师|起诉|曝光|报警|法院|媒体|记者|投诉到")
SUPPLEMENT_PLAN = {"cfpb": 120, "datafiniti_hotels": 60, "yelp_restaurants": 40,
                   "zomato_restaurants": 40, "zh_shopping": 60, "zh_hotels": 40, "airline": 25,
                   "booking_hotels": 20}

# A second supplement (2026-12-01, after model 2026-12-01.4): `system_failure` had 211 training
# and 24 dev positives and did not learn (dev F1 0.24, disabled), and third_party stayed at 275
# positives against 300. Rows matching IT phrases (apps, websites, online banking, Wi-Fi,
# 系统 / 闪退 / 登录 ...) are read, and every remaining row matching a broader list of
# authorities (CFPB, attorney general, state regulators, court, police, 市场监管 ...).
SUPPLEMENT2_SEED = SEED + 11
SYSTEM_FAILURE_STRICT = (
    r"website|web ?site|\bapp\b|\bapps\b|online banking|mobile banking|"
    r"online (account|portal|system|payment)|system (was |is )?(down|error|glitch|issue)|"
    r"computer system|\bcrash|glitch|error (message|code)|wi-?fi|internet|log ?in|password|"
    r"automated (phone|system)|phone system|kiosk|"
    r"系统|网站|网络|无线|宽带|上网|闪退|死机|卡顿|登录|登陆|软件|刷卡|支付失败|付款失败")
SYSTEM_FAILURE_PLAN = {"cfpb": 150, "zh_shopping": 150, "datafiniti_hotels": 120,
                       "booking_hotels": 90, "zh_hotels": 80, "yelp_restaurants": 40,
                       "zomato_restaurants": 40, "flipkart": 20, "amazon_alexa": 40}
THIRD_PARTY_BROAD = (
    r"cfpb|consumer financial|bureau of consumer|attorney general|\bag'?s office|"
    r"federal trade|fdic|\bocc\b|comptroller|ncua|federal reserve|"
    r"department of (banking|financial|consumer|justice|insurance|transportation|health)|"
    r"state (regulator|agency|banking)|legal (action|counsel|advice|aid)|\bcourt\b|\bjudge\b|"
    r"police|lawyer|attorney|\bsue\b|lawsuit|complaint (with|to) the|"
    r"reported (them|it|this|the \w+) to|file[d]? a (formal )?(complaint|report) with|"
    r"消协|消费者协会|12315|12345|工商|律师|起诉|曝光|报警|法院|媒体|记者|投诉到|市场监管|监管")
THIRD_PARTY_BROAD_PLAN = {origin: 200 for origin in PLAN}  # every matching row


# A third supplement (2026-12-02, after model 2026-12-01.5): on the test part the weakest named
# types were booking_availability (F1 0.23, 349 training positives) and promise_mismatch (0.40,
# 594), so rows matching booking phrases (reservations, overbooking, sold out, 订不到, 缺货 ...)
# and promise phrases (as described, advertised, pictured, 描述不符, 宣传 ...) are read.
SUPPLEMENT3_SEED = SEED + 17
BOOKING_STRICT = (
    r"reservation|reserved|\bbooked\b|booking|overbook|fully booked|sold out|out of stock|"
    r"no (rooms?|tables?|seats?)|availab|waitlist|wait list|upgrade|(room|table) (was )?not ready|"
    r"gave (away )?(our|my) (room|table|seat)|bumped|"
    r"订不到|没有房|满房|预订|预定|订房|订座|订位|缺货|没货|断货|无货|下架|补货|没座|没有座")
BOOKING_PLAN = {"datafiniti_hotels": 100, "booking_hotels": 80, "zh_hotels": 90,
                "yelp_restaurants": 60, "zomato_restaurants": 50, "airline": 40,
                "zh_shopping": 60, "zh_dianping": 40, "flipkart": 20}
PROMISE_STRICT = (
    r"advertis|as described|not as (pictured|shown|described)|looks nothing like|pictures?|"
    r"photos? (show|look)|promis|mislead|false|\bbait|not what (i|we) (ordered|paid|expected)|"
    r"claimed|guarantee|"
    r"描述不符|与描述|图片不符|与图片|和图片|实物|宣传|承诺|虚假|不符|说好的|假的")
PROMISE_PLAN = {"zh_shopping": 80, "flipkart": 40, "amazon_alexa": 20, "datafiniti_hotels": 60,
                "booking_hotels": 40, "zh_hotels": 40, "yelp_restaurants": 30,
                "zomato_restaurants": 30, "cfpb": 60, "airline": 20}


# A fourth supplement (2026-12-02, after model 2026-12-02.1): word_of_mouth stayed the one
# response below its bar (test F1 0.57, 151 test positives) and booking_availability the weakest
# type (0.22), so rows matching warning and recommending phrases are read ("avoid", "save your
# money", "recommend", 避雷, 劝退, 别买 ...), then rows matching booking phrases the third
# supplement did not list (cancelled orders and flights, no-shows, 取消订单, 没有位置 ...).
SUPPLEMENT4_SEED = SEED + 23
WORD_OF_MOUTH_STRICT = (
    r"avoid|stay away|\bwarn|recommend|save your (money|time)|don'?t (waste|bother)|"
    r"tell (all|every|my|your)|told (all|every|my)|spread the word|beware|"
    r"do yourself a favou?r|look elsewhere|think twice|review(ers)? (said|say)|"
    r"避雷|劝退|拔草|别买|不要买|千万|大家|推荐|朋友|慎重|慎入|慎买|踩雷|提醒")
WORD_OF_MOUTH_PLAN = {"datafiniti_hotels": 90, "booking_hotels": 40, "yelp_restaurants": 80,
                      "zomato_restaurants": 80, "zh_dianping": 60, "zh_shopping": 80,
                      "zh_hotels": 50, "flipkart": 40, "amazon_alexa": 30, "airline": 30,
                      "cfpb": 20}
BOOKING_BROAD = (
    r"cancel+ed|cancel+ation|no.?show|lost (our|my) (reservation|booking)|double.?booked|"
    r"no record of|could(n'?t| not) (get|find) (a |any )?(room|table|seat|flight)|"
    r"rebook|next available|delivery (slot|window)|not available|unavailable|"
    r"取消|退单|没有位置|没位置|排队|订单|等位|没房|调房|换房|没有了|卖完")
BOOKING_BROAD_PLAN = {"airline": 60, "zh_shopping": 60, "zh_dianping": 40, "zh_hotels": 40,
                      "datafiniti_hotels": 50, "booking_hotels": 30, "yelp_restaurants": 40,
                      "zomato_restaurants": 30, "flipkart": 20}


# A fifth supplement (2026-12-02, after model 2026-12-02.2): on the test part `waiting` (F1 0.52)
# and `booking_availability` (0.36) were the weakest named types and neutral sentiment was the
# class the model missed (recall 0.18, 511 training rows), so rows matching waiting phrases
# (waited, hours, slow, delayed, 等了, 排队, 太慢, 超时 ...) are read, then rows matching
# balancing phrases (but, however, overall, average, 一般, 还行, 不过 ...), where mixed and neutral
# reviews are.
SUPPLEMENT5_SEED = SEED + 29
WAITING_STRICT = (
    r"\bwait(ed|ing)?\b|\bhours?\b|took (forever|ages|so long|too long|\d+)|\bslow|delay|"
    r"\blate\b|queue|long line|line was|still (not|hasn'?t|haven'?t)|never (arrived|came|showed)|"
    r"等了|等待|排队|半天|太慢|很慢|慢死|超时|迟到|延误|晚点|还没到|催|磨蹭|效率")
WAITING_PLAN = {"datafiniti_hotels": 70, "booking_hotels": 40, "zh_hotels": 60,
                "yelp_restaurants": 80, "zomato_restaurants": 80, "zh_dianping": 60,
                "zh_shopping": 60, "airline": 40, "cfpb": 20, "flipkart": 30}
NEUTRAL_MIXED = (
    r"\bbut\b|however|although|overall|\bokay\b|\bok\b|average|decent|mediocre|"
    r"nothing special|not bad|so-so|mixed|fair enough|"
    r"一般|还行|还可以|凑合|但是|不过|总体|总的来说|中规中矩|马马虎虎|普通|不好不坏")
NEUTRAL_PLAN = {"datafiniti_hotels": 80, "booking_hotels": 50, "zh_hotels": 60,
                "yelp_restaurants": 70, "zomato_restaurants": 70, "zh_dianping": 60,
                "zh_shopping": 80, "flipkart": 40, "amazon_alexa": 30}


def draw_supplement(rows_by_origin: dict[str, list[Row]], taken: pd.DataFrame,
                    excluded: set[tuple[str, int]], excluded_texts: set[str], *,
                    seed: int = SUPPLEMENT_SEED, phrases: str = THIRD_PARTY_STRICT,
                    plan: dict[str, int] | None = None,
                    strategy: str = "enriched_third_party_strict") -> pd.DataFrame:
    """Rows matching `phrases`, `plan[origin]` at most per origin, none of them in `taken`,
    with ids following `taken`'s."""
    rng = random.Random(seed)
    pattern = re.compile(phrases, re.IGNORECASE)
    seen_rows = excluded | set(zip(taken["origin_file"], taken["origin_row"], strict=True))
    seen_texts = excluded_texts | set(taken["text"])
    chosen = []
    for origin, count in (plan or SUPPLEMENT_PLAN).items():
        pool = [r for r in rows_by_origin[origin] if pattern.search(r.text)
                and (r.origin_file, r.origin_row) not in seen_rows and r.text not in seen_texts]
        rng.shuffle(pool)
        for row in pool[:count]:
            seen_texts.add(row.text)
            chosen.append(row)
        print(f"{strategy} {origin:22s} matching {len(pool):5d}  drawn {min(count, len(pool))}")
    frame = pd.DataFrame(
        [(r.origin, DOMAIN[r.origin], strategy, r.origin_file, r.origin_row,
          LANGUAGE[r.origin], r.text) for r in chosen],
        columns=["origin", "domain", "strategy", "origin_file", "origin_row", "language", "text"])
    return numbered(frame, seed + 1, len(taken) + 1)


def draw_pair(rows_by_origin: dict[str, list[Row]], taken: pd.DataFrame,
              excluded: set[tuple[str, int]], excluded_texts: set[str], seed: int,
              first: tuple[str, dict[str, int], str],
              second: tuple[str, dict[str, int], str]) -> pd.DataFrame:
    """Rows for the `first` (phrases, plan, strategy), then for the `second` (none of the first
    again), mixed in one seeded order."""
    one = draw_supplement(rows_by_origin, taken, excluded, excluded_texts, seed=seed,
                          phrases=first[0], plan=first[1], strategy=first[2])
    two = draw_supplement(rows_by_origin, pd.concat([taken, one]), excluded, excluded_texts,
                          seed=seed + 2, phrases=second[0], plan=second[1], strategy=second[2])
    frame = pd.concat([one, two], ignore_index=True).drop(columns="id")
    return numbered(frame, seed + 4, len(taken) + 1)


def draw_supplement2(rows_by_origin: dict[str, list[Row]], taken: pd.DataFrame,
                     excluded: set[tuple[str, int]], excluded_texts: set[str]) -> pd.DataFrame:
    """IT-phrase rows, then authority-phrase rows."""
    return draw_pair(rows_by_origin, taken, excluded, excluded_texts, SUPPLEMENT2_SEED,
                     (SYSTEM_FAILURE_STRICT, SYSTEM_FAILURE_PLAN, "enriched_system_failure_strict"),
                     (THIRD_PARTY_BROAD, THIRD_PARTY_BROAD_PLAN, "enriched_third_party_broad"))


def draw_supplement3(rows_by_origin: dict[str, list[Row]], taken: pd.DataFrame,
                     excluded: set[tuple[str, int]], excluded_texts: set[str]) -> pd.DataFrame:
    """Booking-phrase rows, then promise-phrase rows."""
    return draw_pair(rows_by_origin, taken, excluded, excluded_texts, SUPPLEMENT3_SEED,
                     (BOOKING_STRICT, BOOKING_PLAN, "enriched_booking_availability_strict"),
                     (PROMISE_STRICT, PROMISE_PLAN, "enriched_promise_mismatch_strict"))


def draw_supplement4(rows_by_origin: dict[str, list[Row]], taken: pd.DataFrame,
                     excluded: set[tuple[str, int]], excluded_texts: set[str]) -> pd.DataFrame:
    """Warning- and recommending-phrase rows, then broader booking-phrase rows."""
    return draw_pair(rows_by_origin, taken, excluded, excluded_texts, SUPPLEMENT4_SEED,
                     (WORD_OF_MOUTH_STRICT, WORD_OF_MOUTH_PLAN, "enriched_word_of_mouth_strict"),
                     (BOOKING_BROAD, BOOKING_BROAD_PLAN, "enriched_booking_availability_broad"))


def draw_supplement5(rows_by_origin: dict[str, list[Row]], taken: pd.DataFrame,
                     excluded: set[tuple[str, int]], excluded_texts: set[str]) -> pd.DataFrame:
    """Waiting-phrase rows, then balancing-phrase (mixed, neutral) rows."""
    return draw_pair(rows_by_origin, taken, excluded, excluded_texts, SUPPLEMENT5_SEED,
                     (WAITING_STRICT, WAITING_PLAN, "enriched_waiting_strict"),
                     (NEUTRAL_MIXED, NEUTRAL_PLAN, "enriched_neutral_mixed"))


def write_supplement(frame: pd.DataFrame, folder: Path, prefix: str = "s",
                     second: str = "d08", share: int = 20) -> None:
    """Batches `<prefix>NN.csv`; `share` % of the rows again in `second` for a second
    annotator."""
    columns = ["id", "domain", "language", "text"]
    for number, start in enumerate(range(0, len(frame), BATCH_SIZE), start=1):
        frame.iloc[start:start + BATCH_SIZE][columns].to_csv(folder / f"{prefix}{number:02d}.csv",
                                                       index=False)
    twice = frame[frame["id"].map(lambda i: second_pass(i, share))]
    twice[columns].to_csv(folder / f"{second}.csv", index=False)
    print(f"supplement {prefix}: {len(frame)} texts, {len(twice)} labelled twice ({second})")


def second_pass(item_id: str, share: int = SECOND_PASS_SHARE) -> bool:
    """A fixed 10 % of the rows, chosen by a hash of the id, are labelled twice."""
    digest = hashlib.sha256(f"second:{item_id}".encode()).hexdigest()
    return int(digest[:8], 16) % 100 < share


def write_batches(frame: pd.DataFrame, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    columns = ["id", "domain", "language", "text"]
    for number, start in enumerate(range(0, len(frame), BATCH_SIZE), start=1):
        frame.iloc[start:start + BATCH_SIZE][columns].to_csv(folder / f"c{number:02d}.csv",
                                                             index=False)
    twice = frame[frame["id"].map(second_pass)]
    # Reversed so a second-pass batch mixes rows of many first-pass batches.
    twice = twice.iloc[::-1]
    for number, start in enumerate(range(0, len(twice), BATCH_SIZE), start=1):
        twice.iloc[start:start + BATCH_SIZE][columns].to_csv(folder / f"d{number:02d}.csv",
                                                             index=False)
    print(f"{len(frame)} texts in {-(-len(frame) // BATCH_SIZE)} batches, {len(twice)} "
          f"labelled twice in {-(-len(twice) // BATCH_SIZE)} second-pass batches")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--labels", type=Path, default=Path("data/labels"))
    args = parser.parse_args()
    gold = pd.read_csv(args.labels / "candidates.csv", dtype=str)
    excluded = set(zip(gold["origin_file"], gold["origin_row"].astype(int), strict=True))
    rows = eligible_rows(args.shared)
    first = draw(rows, excluded, set(gold["text"]))
    write_batches(first, args.labels / "corpus" / "in")
    supplement = draw_supplement(rows, first, excluded, set(gold["text"]))
    write_supplement(supplement, args.labels / "corpus" / "in")
    frame = pd.concat([first, supplement], ignore_index=True)
    supplement2 = draw_supplement2(rows, frame, excluded, set(gold["text"]))
    write_supplement(supplement2, args.labels / "corpus" / "in", "u", "d09", SECOND_PASS_SHARE)
    frame = pd.concat([frame, supplement2], ignore_index=True)
    supplement3 = draw_supplement3(rows, frame, excluded, set(gold["text"]))
    write_supplement(supplement3, args.labels / "corpus" / "in", "v", "d10", SECOND_PASS_SHARE)
    frame = pd.concat([frame, supplement3], ignore_index=True)
    supplement4 = draw_supplement4(rows, frame, excluded, set(gold["text"]))
    write_supplement(supplement4, args.labels / "corpus" / "in", "w", "d11", SECOND_PASS_SHARE)
    frame = pd.concat([frame, supplement4], ignore_index=True)
    supplement5 = draw_supplement5(rows, frame, excluded, set(gold["text"]))
    write_supplement(supplement5, args.labels / "corpus" / "in", "x", "d12", SECOND_PASS_SHARE)
    frame = pd.concat([frame, supplement5], ignore_index=True)
    frame.to_csv(args.labels / "corpus_candidates.csv", index=False)
    print(frame.groupby(["domain", "language"]).size().to_string())
    print(frame["strategy"].value_counts().to_string())


if __name__ == "__main__":
    main()
