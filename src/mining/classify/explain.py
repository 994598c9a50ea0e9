"""Why this label: the words that drove an item's top failure type, found by occlusion.

Each word, and each window of two or three words, is deleted in turn and the ONNX model reads
the shortened text again; the fall of the top failure type's score, in log-odds (a confident
0.99 that several phrases support still moves when one goes), is how much the item's label rests
on those words. The window with the largest fall is the span a reader sees highlighted.
Occlusion needs nothing but the shipped model (no gradients through int8 ONNX) and its answer is
easy to check: delete the words, the label goes. It costs one model pass per variant, so only
the items the report and the alerts show are explained, in one batched call per item set, and
each is stored (table `explanations`) and explained once per text and model.

Chinese is segmented with jieba, other scripts by a word pattern. Only words the model reads are
occluded: with head+tail truncation the middle of a long text is never seen.
"""

from __future__ import annotations

import html
import json
import logging
import re
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from mining.classify.model import FeedbackClassifier, TextEncoder
from mining.store.db import Store, utcnow
from mining.taxonomy import Taxonomy

log = logging.getLogger("mining")

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# Links and @handles name a page or the business, never a failure: not occluded.
NOT_WORDS = re.compile(r"https?://\S+|www\.\S+|@\w+")
# A window never crosses the end of a sentence or clause.
SENTENCE_END = re.compile(r"[.!?;,:。！？；，、：\n]")
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]+")
MAX_WINDOW = 3        # longest occluded window, in words
MAX_VARIANTS = 160    # occluded texts per item at most (singles first, then pairs, triples)
MIN_DROP = 0.5        # a fall (log-odds) smaller than this explains nothing
SHRINK = 0.95         # drop an edge word when the shorter span keeps 95% of the fall
SECOND_SPAN = 0.5     # a second span must fall at least half as far as the first
MAX_SPANS = 2


@dataclass(frozen=True)
class Word:
    start: int
    end: int


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str
    drop: float


@dataclass(frozen=True)
class Explanation:
    failure_type: str
    score: float                                  # the stored score of that type
    spans: tuple[Span, ...]                       # best first; empty when nothing falls enough
    weights: tuple[tuple[int, int, float], ...]   # (start, end, fall) per word occluded alone
    # Falls are in log-odds of the type's score: log(p / (1 - p)) before minus after.
    variants: int                                 # occluded texts the model read


# -- words ----------------------------------------------------------------------------------

def _han_words(run: str, offset: int) -> list[Word]:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [Word(offset + start, offset + end) for _, start, end in jieba.tokenize(run)]


def split_words(text: str) -> list[Word]:
    """Words with character offsets: jieba inside runs of Chinese, the word pattern elsewhere.
    Links and @handles are left out."""
    words: list[Word] = []
    skipped = [m.span() for m in NOT_WORDS.finditer(text)]
    for match in WORD.finditer(text):
        if any(start <= match.start() < end for start, end in skipped):
            continue
        position = match.start()
        token = match.group()
        for han in HAN.finditer(token):
            if han.start() > position - match.start():
                words.append(Word(position, match.start() + han.start()))
            words.extend(_han_words(han.group(), match.start() + han.start()))
            position = match.start() + han.end()
        if position < match.end():
            words.append(Word(position, match.end()))
    return words


def occlude(text: str, start: int, end: int) -> str:
    """The text without [start, end); a space keeps the neighbours apart, except in Chinese."""
    left, right = text[:start].rstrip(" "), text[end:].lstrip(" ")
    if not left or not right or HAN.match(left[-1]) or HAN.match(right[0]):
        return left + right
    return f"{left} {right}"


# -- what the model reads -------------------------------------------------------------------

def read_ranges(encoder: TextEncoder, text: str) -> list[tuple[int, int]]:
    """Character ranges of `text` the model reads, after its character map and truncation.

    Mirrors `TextEncoder._prepare` and `encode` (head, or head+tail), keeping for each prepared
    character the position it came from.
    """
    pieces: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        mapped = encoder.char_map.get(ord(char), char)
        pieces.append(mapped)
        origin.extend([index] * len(mapped))
    prepared = "".join(pieces)
    keep = encoder.max_length * 8
    if encoder.truncation == "head_tail" and len(prepared) > 2 * keep:
        prepared = prepared[:keep] + " " + prepared[-keep:]
        origin = origin[:keep] + [origin[keep - 1]] + origin[-keep:]
    encoding = encoder.tokenizer.encode(prepared)
    n, limit, head = len(encoding.ids), encoder.max_length, encoder.head_tokens
    parts = ([range(n)] if encoder.truncation == "head" or n <= limit
             else [range(head), range(n - (limit - head), n)])
    ranges = []
    for part in parts:
        spans = [encoding.offsets[i] for i in part
                 if not encoding.special_tokens_mask[i] and encoding.offsets[i][1] > 0]
        if spans:
            ranges.append((origin[min(s for s, _ in spans)], origin[max(e for _, e in spans) - 1]
                           + 1))
    return ranges


def plan_windows(text: str, words: Sequence[Word], ranges: Sequence[tuple[int, int]],
                 max_window: int = MAX_WINDOW,
                 max_variants: int = MAX_VARIANTS) -> list[tuple[int, int]]:
    """Windows [a, b) of consecutive words the model reads, within one sentence, shortest
    first, at most `max_variants`."""
    readable = [i for i, w in enumerate(words)
                if any(w.start < end and start < w.end for start, end in ranges)]
    joined = {i for i in range(len(words) - 1)
              if not SENTENCE_END.search(text, words[i].end, words[i + 1].start)}
    windows = []
    for size in range(1, max_window + 1):
        for k in range(len(readable) - size + 1):
            run = readable[k:k + size]
            # consecutive words (not across the unread middle), not across a sentence end
            if run[-1] - run[0] == size - 1 and all(i in joined for i in run[:-1]):
                windows.append((run[0], run[-1] + 1))
    return windows[:max_variants]


# -- from score falls to spans --------------------------------------------------------------

def _shrink(window: tuple[int, int], drops: dict[tuple[int, int], float]) -> tuple[int, int]:
    a, b = window
    while b - a > 1:
        inner = [w for w in ((a + 1, b), (a, b - 1)) if w in drops]
        if not inner:
            break
        best = max(inner, key=lambda w: drops[w])
        if drops[best] < SHRINK * drops[(a, b)]:
            break
        a, b = best
    return a, b


def explanation_from_drops(text: str, words: Sequence[Word], windows: Sequence[tuple[int, int]],
                           drops: Sequence[float], failure_type: str,
                           score: float) -> Explanation:
    """The best non-touching spans (largest fall first, trimmed of words that add nothing)."""
    by_window = dict(zip(windows, (float(d) for d in drops), strict=True))
    order = sorted(by_window, key=lambda w: (-by_window[w], w[1] - w[0], w[0]))
    chosen: list[tuple[int, int]] = []
    for window in order:
        drop = by_window[window]
        if drop < MIN_DROP or (chosen and drop < SECOND_SPAN * by_window[chosen[0]]):
            break
        if any(window[0] <= b and a <= window[1] for a, b in chosen):
            continue
        chosen.append(_shrink(window, by_window))
        if len(chosen) == MAX_SPANS:
            break
    spans = tuple(Span(words[a].start, words[b - 1].end,
                       text[words[a].start:words[b - 1].end], round(by_window[(a, b)], 4))
                  for a, b in chosen)
    weights = tuple((words[a].start, words[a].end, round(d, 4))
                    for (a, b), d in by_window.items() if b - a == 1)
    return Explanation(failure_type, score, spans, weights, len(windows))


def top_failure_type(failure_types: Iterable[str], failure_scores: dict[str, float],
                     explainable: Sequence[str]) -> str | None:
    """The predicted type with the highest stored score that the model itself scores."""
    known = [t for t in failure_types if t in explainable and t in failure_scores]
    return max(known, key=lambda t: (failure_scores[t], t)) if known else None


def catch_all_types(taxonomy: Taxonomy) -> list[str]:
    """Types whose root cause is `unclassified` (`other`): a label for no named failure."""
    return [t for t, ft in taxonomy.failure_types.items() if ft.root_cause == "unclassified"]


def log_odds(p: float | np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), clipped away from 0 and 1."""
    clipped = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.asarray(np.log(clipped / (1 - clipped)))


@dataclass(frozen=True)
class ToExplain:
    text: str
    failure_type: str
    score: float


def explain_texts(classifier: FeedbackClassifier, items: Sequence[ToExplain],
                  batch_size: int = 32, label_ids: Sequence[str] | None = None
                  ) -> list[Explanation]:
    """Occlusion for a set of items: every variant of every item in one batched model call.

    `label_ids` is the current id of each of the model's failure columns (the taxonomy's
    aliases applied); a type merged from several columns scores their maximum, as stored."""
    plans = []
    for item in items:
        words = split_words(item.text)
        windows = plan_windows(item.text, words, read_ranges(classifier.text_encoder, item.text))
        variants = [occlude(item.text, words[a].start, words[b - 1].end) for a, b in windows]
        plans.append((words, windows, variants))
    unique = list(dict.fromkeys(v for _, _, variants in plans for v in variants))
    _, failure, _ = classifier.probabilities(unique, batch_size)
    row = {text: i for i, text in enumerate(unique)}
    columns: dict[str, list[int]] = {}
    for j, t in enumerate(label_ids or classifier.labels.failure_types):
        columns.setdefault(t, []).append(j)
    out = []
    for item, (words, windows, variants) in zip(items, plans, strict=True):
        column = columns[item.failure_type]
        base = log_odds(item.score)
        drops = [float(base - log_odds(failure[row[v], column].max())) for v in variants]
        out.append(explanation_from_drops(item.text, words, windows, drops, item.failure_type,
                                          item.score))
    return out


# -- rendering ------------------------------------------------------------------------------

def spans_from_json(value: str | None) -> list[Span]:
    return [Span(**s) for s in json.loads(value)] if value else []


def highlight_html(text: str, spans: Sequence[Span], title: str = "") -> str:
    """The text HTML-escaped, with each span in <mark>."""
    parts, position = [], 0
    attribute = f" title='{html.escape(title, quote=True)}'" if title else ""
    for span in sorted(spans, key=lambda s: s.start):
        if span.start < position or span.end > len(text):
            continue
        parts.append(html.escape(text[position:span.start]))
        parts.append(f"<mark{attribute}>{html.escape(text[span.start:span.end])}</mark>")
        position = span.end
    parts.append(html.escape(text[position:]))
    return "".join(parts)


def why_line(failure_type: str, spans: Sequence[Span]) -> str:
    """'why: «waited an hour» → waiting', or '' when no words stand out."""
    if not spans:
        return ""
    return "why: " + ", ".join(f"«{s.text}»" for s in spans) + f" → {failure_type}"


# -- stored explanations --------------------------------------------------------------------

@dataclass(frozen=True)
class ExplainCounts:
    items: int       # items asked about
    reused: int      # already explained for their text and model
    explained: int   # explained now
    variants: int    # occluded texts the model read
    seconds: float


def explain_stored(store: Store, load_classifier: Callable[[], FeedbackClassifier],
                   item_ids: Sequence[str], run_id: str, *, skip_types: Collection[str] = (),
                   batch_size: int = 32, taxonomy: Taxonomy | None = None) -> ExplainCounts:
    """Explain the given feedback items that have no explanation for their text, model and top
    type yet, and store them. The classifier is loaded only when there is work. `skip_types`
    (the catch-all `other`) are never explained: no words name a failure nobody named."""
    start = time.perf_counter()
    ids = list(dict.fromkeys(item_ids))
    if not ids:
        return ExplainCounts(0, 0, 0, 0, 0.0)
    rows = store.query("explain_candidates", [ids]).to_pylist()
    todo: list[tuple[dict[str, Any], ToExplain]] = []
    reused = 0
    classifier: FeedbackClassifier | None = None
    for row in rows:
        if set(row["explained_types"] or []) & set(row["failure_types"]):
            reused += 1  # the prediction of a text and model is fixed, and so is its top type
            continue
        if not set(row["failure_types"]) - set(skip_types):
            continue  # no named failure: nothing to explain, no model needed
        if classifier is None:
            classifier = load_classifier()
        if row["model_version"] != classifier.version:
            continue  # predicted by another model: its words are not this model's to explain
        labels = classifier.labels
        # Stored predictions carry the taxonomy's current ids (aliases applied).
        label_ids = (taxonomy.model_label_map(labels.failure_types, labels.responses,
                                              labels.sentiments, classifier.version)
                     if taxonomy is not None else list(labels.failure_types))
        disabled = {label_ids[j] for j, t in enumerate(labels.failure_types)
                    if t in labels.disabled}
        off = {*disabled, *skip_types}
        explainable = list(dict.fromkeys(t for t in label_ids if t not in off))
        scores = {k: float(v) for k, v in json.loads(row["failure_scores"]).items()}
        top = top_failure_type(row["failure_types"], scores, explainable)
        if top is None:
            continue
        todo.append((row, ToExplain(row["text"], top, scores[top])))
    if not todo or classifier is None:
        return ExplainCounts(len(ids), reused, 0, 0, time.perf_counter() - start)
    explanations = explain_texts(classifier, [t for _, t in todo], batch_size,
                                 label_ids if taxonomy is not None else None)
    now = utcnow()
    table = pa.Table.from_pylist([{
        "item_id": row["item_id"], "content_hash": row["content_hash"],
        "model_version": row["model_version"], "failure_type": e.failure_type,
        "score": e.score, "spans": json.dumps([s.__dict__ for s in e.spans], ensure_ascii=False),
        "word_weights": json.dumps([list(w) for w in e.weights]), "variants": e.variants,
        "run_id": run_id, "explained_at": now,
    } for (row, _), e in zip(todo, explanations, strict=True)])
    with store.transaction():
        store.insert_arrow("explanations", table)
    counts = ExplainCounts(len(ids), reused, len(todo), sum(e.variants for e in explanations),
                           time.perf_counter() - start)
    log.info("explain: %d items, %d reused, %d explained with %d variants in %.1f s",
             counts.items, counts.reused, counts.explained, counts.variants, counts.seconds)
    return counts


def stored_why_lines(store: Store, item_ids: Sequence[str]) -> dict[str, str]:
    """'why: …' lines of the items' current explanations, by item id."""
    if not item_ids:
        return {}
    rows = store.query("current_explanations_of", [list(item_ids)]).to_pylist()
    return {r["item_id"]: why_line(r["failure_type"], spans_from_json(r["spans"])) for r in rows}


def report_item_ids(store: Store) -> list[str]:
    """The feedback items `mining report` shows (its silent items, all sites, all dates), from
    the report's own query. Reports for one site or period show the items explained here or
    by an alert; explaining every site's list too would cost a model pass per word of each."""
    return [str(i) for i in store.query("report_silent_items", [None, None])
            .column("item_id").to_pylist()]
