"""Training and validation data from the shared labelled sets, mapped onto the taxonomy.

Every example carries only the labels its data set really has; a missing label is `None` (the
head is not trained on it) and, for failure types and responses, a per-label mask says which
labels are known. Splits are fixed by a hash of each row's stable id.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mining.taxonomy import Taxonomy

DEFAULT_TAXONOMY = Path("config/taxonomy.yaml")


@dataclass(frozen=True)
class LabelIds:
    """The ids a model learns, in order, read from the taxonomy (never written in code), and
    the old ids (aliases) that labelled data and data-set mappings may still use."""

    sentiments: list[str]
    failure_types: list[str]
    responses: list[str]
    aliases: Mapping[str, str] = field(default_factory=dict)
    # Custom types (heads a business added on top of the model), last in `failure_types`.
    custom: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, taxonomy: Taxonomy, with_custom: bool = False) -> LabelIds:
        """Built-in types (what a model is trained on), and with `with_custom` the enabled
        custom types too (what evaluation may score)."""
        custom = list(taxonomy.custom_failure_types) if with_custom else []
        return cls(list(taxonomy.sentiments), taxonomy.builtin_failure_type_ids + custom,
                   taxonomy.response_ids, taxonomy.aliases, custom)

    @classmethod
    def load(cls, path: Path = DEFAULT_TAXONOMY) -> LabelIds:
        return cls.of(Taxonomy.load(path))

    def failure(self, label: str, where: str) -> str:
        """The current id of a failure label; an id the taxonomy lacks is an error."""
        current = self.aliases.get(label, label)
        if current not in self.failure_types:
            raise ValueError(f"{where}: failure type {label!r} is not a type of the "
                             f"taxonomy ({', '.join(self.failure_types)})")
        return current

    def response(self, label: str, where: str) -> str:
        if label not in self.responses:
            raise ValueError(f"{where}: response {label!r} is not in the taxonomy "
                             f"({', '.join(self.responses)})")
        return label

# The short codes annotators write in their batch files (data/labels/*/`id|s|failures|responses`).
SENTIMENT_CODES = {"n": "negative", "u": "neutral", "p": "positive"}
LABEL_CODES = {
    "att": "staff_attitude", "err": "staff_error", "wait": "waiting",
    "book": "booking_availability", "prod": "product_quality",
    "clean": "cleanliness_facilities", "price": "price_billing", "prom": "promise_mismatch",
    "sys": "system_failure", "cs": "customer_service", "oth": "other",
    "v": "voice", "x": "exit", "w": "word_of_mouth", "t": "third_party",
}

AIRLINE_REASONS = {
    "Late Flight": "waiting", "longlines": "waiting",
    "Customer Service Issue": "customer_service",
    "Flight Attendant Complaints": "staff_attitude",
    "Cancelled Flight": "booking_availability", "Flight Booking Problems": "booking_availability",
    "Lost Luggage": "staff_error", "Damaged Luggage": "staff_error",
    "Bad Flight": "product_quality",
    "Can't Tell": "other",
}

RESTAURANT_ASPECTS = {
    "food": "product_quality", "menu": "product_quality", "price": "price_billing",
    "ambience": "cleanliness_facilities", "place": "cleanliness_facilities",
}
PEOPLE_ASPECTS = {"service", "staff"}
# Rule for negative service/staff sentences: the first matching pattern names the type; a
# sentence that matches none leaves the four people-facing types unknown (masked).
PEOPLE_RULES = [
    ("waiting", re.compile(r"\b(wait\w*|slow\w*|minutes|hours?|forever|took (so )?long|"
                           r"never came|late)\b", re.I)),
    ("staff_error", re.compile(r"\b(wrong|forgot\w*|mistake\w*|mix(ed)? up|missing|"
                               r"never (got|brought|received))\b", re.I)),
    ("customer_service", re.compile(r"\b(manager|complain\w*|apolog\w*|refund\w*)\b", re.I)),
    ("staff_attitude", re.compile(r"\b(rude\w*|attitude|arrogant|snob\w*|condescend\w*|"
                                  r"unfriendly|ignor\w*|yell\w*|obnoxious|nasty|surly|"
                                  r"inattentive|horrible|terrible|awful|bad|poor)\b", re.I)),
]
PEOPLE_TYPES = ["staff_attitude", "staff_error", "waiting", "customer_service"]


@dataclass
class Example:
    uid: str
    dataset: str
    text: str
    language: str
    sentiment: str | None = None
    failures: dict[str, int] = field(default_factory=dict)   # known labels only
    responses: dict[str, int] = field(default_factory=dict)  # known labels only


def bucket(uid: str) -> int:
    """0-99, fixed by the id: the split never changes between runs or machines."""
    return int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16) % 100


def split_of(uid: str, dev: int = 10, validation: int = 10) -> str:
    b = bucket(uid)
    if b < validation:
        return "validation"
    if b < validation + dev:
        return "dev"
    return "train"


def airline_types(ids: LabelIds) -> list[str]:
    """Types the airline data can speak about: a negative tweet names exactly one of them."""
    return sorted({ids.failure(t, "airline reasons") for t in AIRLINE_REASONS.values()})


def airline_examples(path: Path, ids: LabelIds) -> list[Example]:
    frame = pd.read_csv(path, dtype={"tweet_id": str})
    reasons = {k: ids.failure(v, "airline reasons") for k, v in AIRLINE_REASONS.items()}
    types = airline_types(ids)
    out = []
    for row in frame.itertuples(index=False):
        failures = dict.fromkeys(types, 0)
        if row.airline_sentiment == "negative" and isinstance(row.negativereason, str):
            failures[reasons[row.negativereason]] = 1
        elif row.airline_sentiment == "negative":
            failures = {}
        out.append(Example(f"airline:{row.tweet_id}", "airline", str(row.text), "en",
                           str(row.airline_sentiment), failures))
    return out


def _sentence_examples(path: Path, dataset: str, ids: LabelIds) -> list[Example]:
    aspects_to = {k: ids.failure(v, "restaurant aspects") for k, v in RESTAURANT_ASPECTS.items()}
    rules = [(ids.failure(t, "restaurant people rules"), rule) for t, rule in PEOPLE_RULES]
    people_types = [ids.failure(t, "restaurant people rules") for t in PEOPLE_TYPES]
    unspoken = {ids.failure(t, "restaurant sets") for t in ("promise_mismatch", "system_failure",
                                                           "other")}
    out = []
    for index, sentence in enumerate(ET.parse(path).getroot().iter("sentence")):
        text = (sentence.findtext("text") or "").strip()
        aspects = [(a.get("category", ""), a.get("polarity", ""))
                   for a in sentence.iter("aspectCategory")]
        if not text or not aspects:
            continue
        polarities = {p for _, p in aspects if p in ("negative", "neutral", "positive")}
        strong = polarities - {"neutral"}
        sentiment = None
        if len(strong) == 1:
            sentiment = strong.pop()
        elif polarities == {"neutral"}:
            sentiment = "neutral"
        failures = {t: 0 for t in ids.failure_types if t not in unspoken}
        for category, polarity in aspects:
            if polarity != "negative":
                continue
            if category in aspects_to:
                failures[aspects_to[category]] = 1
            elif category in PEOPLE_ASPECTS:
                people = next((t for t, rule in rules if rule.search(text)), None)
                if people is None:
                    for t in people_types:
                        if failures.get(t) == 0:
                            del failures[t]
                else:
                    failures[people] = 1
            else:  # anecdotes/miscellaneous: some failure, type unknown
                failures = {k: v for k, v in failures.items() if v == 1}
        uid = f"{dataset}:{sentence.get('id') or index}"
        out.append(Example(uid, dataset, text, "en", sentiment, failures))
    return out


def restaurant_examples(shared: Path, ids: LabelIds) -> list[Example]:
    return (_sentence_examples(shared / "semeval2014_restaurants" / "train.xml", "semeval", ids)
            + _sentence_examples(shared / "mams_acsa" / "train.xml", "mams", ids))


def restaurant_validation(shared: Path, ids: LabelIds) -> list[Example]:
    return _sentence_examples(shared / "mams_acsa" / "val.xml", "mams_val", ids)


def chinese_hotel_examples(path: Path) -> list[Example]:
    frame = pd.read_csv(path)
    out = []
    for index, row in enumerate(frame.itertuples(index=False)):
        text = str(row.review).strip() if isinstance(row.review, str) else ""
        if text:
            out.append(Example(f"chnsenticorp:{index}", "chnsenticorp", text, "zh",
                               "positive" if int(row.label) == 1 else "negative"))
    return out


@dataclass(frozen=True)
class RatedSet:
    """A public review set whose authors rated their own text: a low rating reads as negative
    sentiment, a high one as positive, the middle (often mixed, rarely neutral) is left out.
    Sentiment only."""

    name: str
    path: str  # under the shared folder
    language: str
    text: str
    rating: str
    negative_max: float
    positive_min: float
    skip: Mapping[str, str] = field(default_factory=dict)  # column -> value left out
    share: int = 1  # this many times the per-set limit (a set spanning several domains)


# Corpus rows drawn from these files agree with that reading (`scripts/rated_agreement.py`):
# a low rating is hand-labelled negative 93-98 %, a high one positive 85-97 %; the middle splits
# three ways.
RATED_SETS = (
    RatedSet("datafiniti", "datafiniti_hotels/reviews.csv", "en", "text", "rating_or_label",
             2, 4),
    RatedSet("booking", "booking_hotels/reviews.csv", "en", "text", "rating_or_label", 5.0, 9.5),
    RatedSet("yelp", "yelp_restaurants/reviews.csv", "en", "text", "rating_or_label", 2, 4),
    RatedSet("zomato", "zomato_hyderabad_restaurants/reviews.csv", "en", "text",
             "rating_or_label", 2, 4),
    RatedSet("flipkart", "flipkart_product_reviews/reviews.csv", "en", "text",
             "rating_or_label", 2, 4),
    RatedSet("alexa", "amazon_alexa_reviews/reviews.csv", "en", "text", "rating_or_label", 2, 4),
    # Nine shop categories (its hotel one is ChnSentiCorp's corpus again, whose held-out part
    # is a bar), and the Chinese half of the rated reviews.
    RatedSet("online_shopping", "chinese_online_shopping/reviews.csv", "zh", "review", "label",
             0, 1, {"cat": "酒店"}, share=3),
)


TEXT_KEY_CHARS = 200  # hand-labelled texts were cut at 1,200 characters: compare a prefix


def text_key(text: str) -> str:
    """The same text whatever its spacing, case or length cut: what 'seen before' compares."""
    return " ".join(text.split()).casefold()[:TEXT_KEY_CHARS]


def labelled_origins(paths: Iterable[Path]) -> set[tuple[str, int]]:
    """(file, row number) of every public row a hand-labelled set took in; the row number is
    the pandas row index + 2, as `origin_row` records it (row 1 is the header)."""
    out: set[tuple[str, int]] = set()
    for path in paths:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False,
                            usecols=["origin_file", "origin_row"])
        for line, (file, row) in enumerate(zip(frame.origin_file, frame.origin_row,
                                                strict=True), start=2):
            if not row.isdigit():
                raise ValueError(f"{path} line {line}: origin_row {row!r} is not a row number")
            out.add((file, int(row)))
    return out


def rated_examples(shared: Path, spec: RatedSet, exclude_rows: set[tuple[str, int]]
                   ) -> list[Example]:
    """A rated set's negative and positive rows, as sentiment-only examples; `exclude_rows`
    holds (file, row number) pairs already taken into a hand-labelled set."""
    path = shared / spec.path
    if not path.is_file():
        raise FileNotFoundError(f"rated review set {spec.name!r} not found: {path} (set "
                                "data.rated_max_per_set: 0 to train without rated reviews)")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = []
    for index, row in enumerate(frame.to_dict("records")):
        if any(row.get(column) == value for column, value in spec.skip.items()):
            continue
        if (spec.path, index + 2) in exclude_rows:  # row number: index + 2
            continue
        text = row[spec.text].replace("\ufeff", "").strip()
        try:
            rating = float(row[spec.rating])
        except ValueError:
            continue
        sentiment = ("negative" if rating <= spec.negative_max else
                     "positive" if rating >= spec.positive_min else None)
        if text and sentiment is not None:
            out.append(Example(f"{spec.name}:{index}", spec.name, text, spec.language,
                               sentiment))
    return out


def cfpb_examples(path: Path, max_chars: int = 1500) -> list[Example]:
    frame = pd.read_csv(path, dtype={"Complaint ID": str})
    frame = frame[frame["Consumer complaint narrative"].notna()]
    return [Example(f"cfpb:{row['Complaint ID']}", "cfpb",
                    str(row["Consumer complaint narrative"])[:max_chars], "en")
            for _, row in frame.iterrows()]


def _ids(value: object) -> list[str] | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return [] if value.strip() == "none" else [v.strip() for v in value.split(";") if v.strip()]


def labelled_examples(path: Path, prefix: str, ids: LabelIds) -> list[Example]:
    """A hand-labelled set in the gold.csv format (gold.csv, corpus.csv); its `split` column is
    kept: the examples' dataset is `<prefix>_<split>`. Old ids (aliases) read as current ones;
    an id the taxonomy lacks is an error naming the line."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = []
    for line, row in enumerate(frame.itertuples(index=False), start=2):
        where = f"{path} line {line}"
        failures = _ids(row.failure_types)
        responses = _ids(row.response)
        if failures is not None:
            failures = [ids.failure(t, where) for t in failures]
        if responses is not None:
            responses = [ids.response(r, where) for r in responses]
        sentiment = row.sentiment or None
        if sentiment is not None and sentiment not in ids.sentiments:
            raise ValueError(f"{where}: sentiment {sentiment!r} is not in the taxonomy")
        out.append(Example(
            f"{prefix}:{row.id}", f"{prefix}_{row.split}", row.text, row.language or "en",
            sentiment,
            {t: int(t in failures) for t in ids.failure_types} if failures is not None else {},
            {r: int(r in responses) for r in ids.responses} if responses is not None else {}))
    return out


def gold_examples(path: Path, ids: LabelIds) -> list[Example]:
    """The hand-labelled gold set (data/labels/gold.csv)."""
    return labelled_examples(path, "gold", ids)


def corpus_split(item_id: str) -> str:
    """train 70 % / dev 10 % / test 20 %, fixed by a hash of the corpus id."""
    b = int(hashlib.sha256(f"corpus:{item_id}".encode()).hexdigest()[:8], 16) % 100
    return "test" if b < 20 else "dev" if b < 30 else "train"


# -- weak labels for customer response -------------------------------------------------------
# No public set labels customer response. These labelling functions mark clear statements; an
# example with no match is taken as negative for that label (noisy, documented in the card).
RESPONSE_RULES: dict[str, re.Pattern[str]] = {
    "voice": re.compile(
        r"\b(i|we) (have )?(called|phoned|emailed|e-mailed|wrote to|complained|spoke to|"
        r"talked to|contacted|dm'?d|messaged|filed a (complaint|claim)|disputed)\b|"
        r"\b(on hold|hold time|your (agent|rep|customer service)|the manager said|"
        r"customer service (said|told|hung))\b|"
        r"投诉|打电话|找了?(经理|前台|客服)|向.{0,6}反映|客服说",
        re.I),
    "exit": re.compile(
        r"\b(never (fly(ing)?|stay(ing)?|com(e|ing) back|go(ing)? back|eat(ing)? here|use|"
        r"again)|won'?t be (flying|back|returning|using)|last time i (fly|fly with|stay|use)|"
        r"switch(ing|ed)? (to|airlines|banks)|(lost|losing) (a|my|your) (customer|business)|"
        r"clos(ed|ing) (my|the) account|done with (you|@)|take my business elsewhere)\b|"
        r"再也不|不会再|下次(不|再也)|最后一次|拉黑",
        re.I),
    "word_of_mouth": re.compile(
        r"\b(tell(ing)? (all|every|my)|told (all|every|my) (friends|family)|warn(ing)? "
        r"(others|everyone|you|people)|avoid (this|these|at all)|stay away|do not (stay|fly|"
        r"eat|book)|don'?t (stay|fly|eat|book) (here|with)|spread(ing)? the word|never recommend"
        r"|would not recommend|wouldn'?t recommend)\b|"
        r"告诉(朋友|大家|身边)|提醒大家|大家(千万|不要|别)|"
        r"千万(别|不要)|劝大家|不推荐",
        re.I),
    "third_party": re.compile(
        r"\b(dot|faa|bbb|better business bureau|cfpb|consumer financial protection|attorney"
        r"( general)?|lawyer|lawsuit|sue|suing|legal action|small claims|regulator|ombudsman|"
        r"news|media|press|reporter|ftc|state (ag|attorney))\b|"
        r"消协|消费者协会|12315|工商|媒体|律师|"
        r"起诉|曝光|监管",
        re.I),
}


def weak_responses(text: str) -> dict[str, int]:
    return {label: int(bool(rule.search(text))) for label, rule in RESPONSE_RULES.items()}


def with_weak_responses(examples: Iterable[Example]) -> list[Example]:
    out = []
    for example in examples:
        if not example.responses:
            example.responses = weak_responses(example.text)
        out.append(example)
    return out


def to_eval_frame(examples: list[Example], ids: LabelIds) -> pd.DataFrame:
    """The evaluation CSV layout (text, sentiment, failure_types, response, language)."""
    complete_sets = [set(ids.failure_types), set(airline_types(ids))]
    rows = []
    for e in examples:
        failures = ";".join(k for k, v in e.failures.items() if v) or "none"
        # Partially known failure labels are not a full labelling: leave them empty.
        complete = set(e.failures) in complete_sets
        responses = ";".join(k for k, v in e.responses.items() if v) or "none"
        rows.append({
            "text": e.text, "sentiment": e.sentiment or "",
            "failure_types": failures if e.failures and complete else "",
            "response": responses if e.responses else "", "language": e.language,
            "dataset": e.dataset,
        })
    return pd.DataFrame(rows)


def correction_examples(path: Path, ids: LabelIds) -> list[Example]:
    """An analyst's corrections (`mining label import`, the gold format keyed by id) as
    examples of the dataset `corrections`. Custom types are not the built-in heads' labels and
    are left out; an empty column is not labelled (masked)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = []
    for row in frame.itertuples(index=False):
        failures = _ids(row.failure_types)
        responses = _ids(row.response)
        current = None if failures is None else {ids.aliases.get(t, t) for t in failures}
        out.append(Example(
            f"correction:{row.id}", "corrections", row.text, row.language or "en",
            row.sentiment or None,
            {t: int(t in current) for t in ids.failure_types} if current is not None else {},
            {r: int(r in responses) for r in ids.responses} if responses is not None else {}))
    return out


def with_corrections(train: list[Example], held_out: Iterable[Example],
                     corrections: list[Example]) -> tuple[list[Example], int]:
    """`train` with each corrected text's labels replaced by its correction (a head it leaves
    unlabelled keeps the text's own label), and the number of
    corrections left out because their text is held out (dev or validation): a correction
    only ever trains, it never leaks into what tunes or measures the model."""
    held = {e.text.strip() for e in held_out}
    kept = [c for c in corrections if c.text.strip() not in held]
    corrected = {c.text.strip() for c in kept}
    # A head the correction leaves empty keeps the label the text had.
    original = {e.text.strip(): e for e in train if e.text.strip() in corrected}
    for c in kept:
        before = original.get(c.text.strip())
        if before is not None:
            c.sentiment = c.sentiment or before.sentiment
            c.failures = c.failures or before.failures
            c.responses = c.responses or before.responses
    return ([e for e in train if e.text.strip() not in corrected] + kept,
            len(corrections) - len(kept))
