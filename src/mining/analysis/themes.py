"""Emerging problems: clusters of recent negative feedback that no failure type covers.

Each run takes the last window's negative items whose stored prediction names no failure type
(or only `other`), clusters them on the model's pooled features and keeps clusters of at least
`min_size` items as themes, each with class-based TF-IDF keywords (English and Chinese), the
examples nearest its centroid, its sites and its growth against the previous window.

Growth counts the previous window's uncovered items that fall inside the theme: nearest to its
centroid among this run's themes and within its radius (the farthest member's distance). It
does not compare with the previous run's theme, because runs may be daily while the window is a
week: consecutive runs would then mostly count the same items.

A theme keeps its id across runs when its centroid is within `match_threshold` (cosine) of a
theme seen before with the same encoder (the newest centroid of each id); otherwise it gets a
new id from the hash of its items. Pure functions here; the store is read and written only by
`load_window`, `known_themes`, `save_themes` and `theme_examples`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa

from mining.analysis.config import ThemesConfig
from mining.redact import redact
from mining.store.db import Store, utcnow

# A prediction naming only these types is not covered by the taxonomy.
UNCOVERING_TYPES = frozenset({"other"})


@dataclass(frozen=True)
class Item:
    item_id: str
    site: str
    text: str


@dataclass(frozen=True)
class KnownTheme:
    theme_id: str
    centroid: np.ndarray
    first_seen_at: datetime


@dataclass(frozen=True)
class Theme:
    theme_id: str
    item_ids: list[str]
    distances: list[float]
    keywords: list[str]
    sites: list[tuple[str, int]]
    examples: list[str]
    centroid: np.ndarray
    radius: float
    previous_size: int
    first_seen_at: datetime

    @property
    def size(self) -> int:
        return len(self.item_ids)

    @property
    def growth(self) -> float | None:
        """Relative change against the previous window; None when the theme is new there."""
        return self.size / self.previous_size - 1 if self.previous_size else None


@dataclass
class Window:
    """The uncovered items of the current and previous window (one row per item)."""

    start: datetime
    end: datetime
    current: list[Item] = field(default_factory=list)
    previous: list[Item] = field(default_factory=list)


# -- selection ---------------------------------------------------------------------------------
def is_uncovered(failure_types: Sequence[str] | None) -> bool:
    """True when the prediction names no failure type, or only `other`."""
    return set(() if failure_types is None else failure_types) <= UNCOVERING_TYPES


def window_bounds(newest: datetime, days: float) -> tuple[datetime, datetime, datetime]:
    """(previous start, current start, end): two windows of `days` ending at `newest`."""
    length = timedelta(days=days)
    return newest - 2 * length, newest - length, newest


def split_window(rows: pd.DataFrame, newest: datetime, days: float, max_items: int) -> Window:
    """The uncovered negative items of `rows` in the current window (the newest `max_items`)
    and in the previous one. `rows` has item_id, created_at, site, text, failure_types."""
    previous_start, start, end = window_bounds(newest, days)
    window = Window(start=start, end=end)
    ordered = rows.sort_values(["created_at", "item_id"], ascending=[False, True])
    for row in ordered.itertuples(index=False):
        if not is_uncovered(row.failure_types):
            continue
        item = Item(str(row.item_id), str(row.site), str(row.text))
        created = pd.Timestamp(row.created_at).to_pydatetime()
        if start < created <= end:
            if len(window.current) < max_items:
                window.current.append(item)
        elif previous_start < created <= start and len(window.previous) < max_items:
            window.previous.append(item)
    return window


# -- clustering --------------------------------------------------------------------------------
def unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float64)


def cluster(vectors: np.ndarray, distance_threshold: float, min_size: int) -> list[np.ndarray]:
    """Indices of each cluster of at least `min_size` rows, largest first.

    Average-linkage agglomerative clustering on cosine distance: deterministic, and a distance
    threshold instead of a number of clusters, since nobody knows how many problems are new.
    """
    from sklearn.cluster import AgglomerativeClustering

    if len(vectors) < max(min_size, 2):
        return []
    labels = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                     distance_threshold=distance_threshold
                                     ).fit_predict(unit_rows(vectors))
    groups = [np.flatnonzero(labels == label) for label in np.unique(labels)]
    groups = [g for g in groups if len(g) >= min_size]
    return sorted(groups, key=lambda g: (-len(g), int(g[0])))


def centroid(vectors: np.ndarray) -> np.ndarray:
    return unit_rows(unit_rows(vectors).mean(axis=0, keepdims=True))[0]


def cosine_distances_to(vectors: np.ndarray, point: np.ndarray) -> np.ndarray:
    return np.clip(1.0 - unit_rows(vectors) @ point, 0.0, 2.0)


def previous_sizes(previous: np.ndarray, centroids: Sequence[np.ndarray],
                   radii: Sequence[float]) -> list[int]:
    """How many previous-window items each theme holds: an item counts for the nearest
    centroid, and only when it lies within that theme's radius."""
    counts = [0] * len(centroids)
    if len(previous) == 0 or not centroids:
        return counts
    distances = np.stack([cosine_distances_to(previous, c) for c in centroids], axis=1)
    nearest = distances.argmin(axis=1)
    for row, theme in enumerate(nearest):
        if distances[row, theme] <= radii[theme]:
            counts[int(theme)] += 1
    return counts


def match_ids(centroids: Sequence[np.ndarray], known: Sequence[KnownTheme],
              threshold: float) -> list[KnownTheme | None]:
    """For each new centroid, the known theme it continues (one-to-one, most similar pairs
    first, cosine >= threshold), or None."""
    matched: list[KnownTheme | None] = [None] * len(centroids)
    if not centroids or not known:
        return matched
    similarity = np.stack(centroids) @ unit_rows(np.stack([k.centroid for k in known])).T
    taken: set[int] = set()
    for flat in np.argsort(-similarity, axis=None, kind="stable"):
        new, old = np.unravel_index(flat, similarity.shape)
        if similarity[new, old] < threshold:
            break
        if matched[new] is None and int(old) not in taken:
            matched[new] = known[int(old)]
            taken.add(int(old))
    return matched


def new_theme_id(item_ids: Sequence[str], taken: set[str]) -> str:
    """`theme-` and a short hash of the member ids (the same items give the same id)."""
    digest = hashlib.sha256("\n".join(sorted(item_ids)).encode("utf-8")).hexdigest()
    for start in range(0, len(digest) - 10):
        candidate = f"theme-{digest[start:start + 10]}"
        if candidate not in taken:
            return candidate
    raise RuntimeError("no free theme id")  # 54 hash windows all taken: cannot happen


# -- keywords ----------------------------------------------------------------------------------
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_NOISE = re.compile(r"https?://\S+|www\.\S+|@\w+|\[[A-Z_]+\]|&#?\w+;")
_ENGLISH_WORD = re.compile(r"[a-z][a-z']*[a-z]")
# Common Chinese function words that jieba keeps as words; single characters are dropped anyway.
_CHINESE_STOP_TEXT = (
    "我们 你们 他们 她们 它们 自己 什么 怎么 这个 那个 这些 那些 这样 那样 这么 那么 一个 一些 "
    "就是 还是 但是 而且 因为 所以 如果 虽然 可是 不过 然后 只是 还有 已经 现在 时候 真的 觉得 "
    "没有 不是 可以 应该 知道 感觉 非常 比较 还是 一下 一点 一直 东西 问题 之后 以后 以前 为什么 "
    "不会 不能 不要 这里 那里 大家 其实 的话 而已 起来 出来 看看 有点 有些 一样 这次 一次")
CHINESE_STOP_WORDS = frozenset(_CHINESE_STOP_TEXT.split())


@cache
def _english_stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


@cache
def _jieba() -> object:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def tokens(text: str) -> list[str]:
    """Content words: jieba's segmentation for Chinese runs (two characters or more), English
    words of three letters or more that are not stop words; mentions, URLs and redaction tokens
    dropped."""
    jieba = _jieba()
    stop = _english_stop_words()
    text = _NOISE.sub(" ", text.replace("\u2019", "'"))
    out: list[str] = []
    position = 0
    for run in _CJK_RUN.finditer(text):
        out += _english_tokens(text[position:run.start()], stop)
        out += [w for w in jieba.lcut(run.group()) if len(w) >= 2  # type: ignore[attr-defined]
                and _CJK_RUN.fullmatch(w) and w not in CHINESE_STOP_WORDS]
        position = run.end()
    return out + _english_tokens(text[position:], stop)


def _english_tokens(text: str, stop: frozenset[str]) -> list[str]:
    words = (w.removesuffix("'s") for w in _ENGLISH_WORD.findall(text.lower()))
    return [w for w in words if len(w) >= 3 and "'" not in w and w not in stop]


def class_tfidf_keywords(documents: Sequence[Sequence[str]], top_n: int) -> list[list[str]]:
    """The top terms of each class by class-based TF-IDF (BERTopic's c-TF-IDF): a class is all
    its documents joined; weight = (term count / class length) × log(1 + A / term count over all
    classes), A the mean class length. Terms seen once in a class come after all the others."""
    counts = [Counter(tokens_of_class) for tokens_of_class in documents]
    totals: Counter[str] = Counter()
    for class_counts in counts:
        totals.update(class_counts)
    average = sum(totals.values()) / max(len(counts), 1)
    keywords = []
    for class_counts in counts:
        length = sum(class_counts.values()) or 1
        scored = [(count < 2, -count / length * math.log(1 + average / totals[term]), term)
                  for term, count in class_counts.items()]
        scored.sort()
        keywords.append([term for *_, term in scored[:top_n]])
    return keywords


# -- themes ------------------------------------------------------------------------------------
def closest_examples(texts: Sequence[str], distances: np.ndarray, k: int) -> list[str]:
    """The `k` distinct texts nearest the centroid, redacted (stored texts already are; this
    is a second guard before they leave the store)."""
    chosen: list[str] = []
    for index in np.argsort(distances, kind="stable"):
        text = redact(texts[int(index)])
        if text not in chosen:
            chosen.append(text)
        if len(chosen) == k:
            break
    return chosen


def build_themes(current: Sequence[Item], vectors: np.ndarray, previous_vectors: np.ndarray,
                 known: Sequence[KnownTheme], config: ThemesConfig,
                 now: datetime) -> list[Theme]:
    """The window's themes, largest first, with ids carried over from `known` where they
    persist. `vectors` are the pooled features of `current`, row for row."""
    groups = cluster(vectors, config.distance_threshold, config.min_size)
    if not groups:
        return []
    centroids = [centroid(vectors[g]) for g in groups]
    distances = [cosine_distances_to(vectors[g], c) for g, c in zip(groups, centroids,
                                                                    strict=True)]
    radii = [float(d.max()) for d in distances]
    in_theme = {int(i) for g in groups for i in g}
    # The items in no theme form one more class, so words common to all uncovered items
    # (the site's name, "airline") weigh little.
    documents = [[w for i in g for w in tokens(current[int(i)].text)] for g in groups]
    documents.append([w for i, item in enumerate(current) if i not in in_theme
                      for w in tokens(item.text)])
    keywords = class_tfidf_keywords(documents, config.keywords)
    previous = previous_sizes(previous_vectors, centroids, radii)
    matches = match_ids(centroids, known, config.match_threshold)
    taken = {k.theme_id for k in known}
    themes = []
    for n, group in enumerate(groups):
        members = [current[int(i)] for i in group]
        match = matches[n]
        if match is not None:
            theme_id, first_seen = match.theme_id, match.first_seen_at
        else:
            theme_id = new_theme_id([m.item_id for m in members], taken)
            first_seen = now
        taken.add(theme_id)
        sites = Counter(m.site for m in members)
        themes.append(Theme(
            theme_id=theme_id, item_ids=[m.item_id for m in members],
            distances=[float(d) for d in distances[n]], keywords=keywords[n],
            sites=sorted(sites.items(), key=lambda pair: (-pair[1], pair[0])),
            examples=closest_examples([m.text for m in members], distances[n], config.examples),
            centroid=centroids[n], radius=radii[n], previous_size=previous[n],
            first_seen_at=first_seen))
    return themes


# -- store -------------------------------------------------------------------------------------
def load_window(store: Store, config: ThemesConfig) -> Window | None:
    """The uncovered negative items of the last window and the one before it; None when no
    feedback is stored. The window ends at the newest stored item, not now: data may be old."""
    newest = store.fetch_rows("themes_newest_feedback")[0][0]
    if newest is None:
        return None
    previous_start, _, end = window_bounds(newest, config.window_days)
    rows = store.query("themes_negative_feedback", [previous_start, end]).to_pandas()
    return split_window(rows, newest, config.window_days, config.max_items)


def known_themes(store: Store, encoder_digest: str) -> list[KnownTheme]:
    """The newest centroid of every theme seen before with this encoder."""
    return [KnownTheme(theme_id, np.asarray(vector, dtype=np.float64), first_seen)
            for theme_id, vector, first_seen in store.fetch_rows("themes_known",
                                                                 [encoder_digest])]


def save_themes(store: Store, run_id: str, window: Window, themes: Sequence[Theme], *,
                model_version: str, encoder_digest: str, computed_at: datetime) -> None:
    """Record the run's themes and their items; a run with none records that too, so the
    `emerging_themes` view never shows an older run's themes as current."""
    theme_rows = pa.table({
        "run_id": [run_id] * len(themes),
        "theme_id": [t.theme_id for t in themes],
        "size": [t.size for t in themes],
        "previous_size": [t.previous_size for t in themes],
        "growth": pa.array([t.growth for t in themes], type=pa.float64()),
        "keywords": pa.array([t.keywords for t in themes], type=pa.list_(pa.string())),
        "sites": pa.array([[s for s, _ in t.sites] for t in themes], type=pa.list_(pa.string())),
        "site_counts": [json.dumps(dict(t.sites)) for t in themes],
        "examples": pa.array([t.examples for t in themes], type=pa.list_(pa.string())),
        "centroid": pa.array([t.centroid.astype(np.float32) for t in themes],
                             type=pa.list_(pa.float32())),
        "radius": [t.radius for t in themes],
        "first_seen_at": pa.array([t.first_seen_at for t in themes], type=pa.timestamp("us")),
    })
    item_rows = pa.table({
        "run_id": [run_id] * sum(t.size for t in themes),
        "theme_id": [t.theme_id for t in themes for _ in t.item_ids],
        "item_id": [i for t in themes for i in t.item_ids],
        "distance": [d for t in themes for d in t.distances],
    })
    run_row = pa.table({
        "run_id": [run_id], "computed_at": pa.array([computed_at], type=pa.timestamp("us")),
        "model_version": [model_version], "encoder_digest": [encoder_digest],
        "window_start": pa.array([window.start], type=pa.timestamp("us")),
        "window_end": pa.array([window.end], type=pa.timestamp("us")),
        "uncovered_items": [len(window.current)], "themes": [len(themes)],
    })
    with store.transaction():
        store.execute("DELETE FROM theme_items WHERE run_id = ?", [run_id])
        store.execute("DELETE FROM themes WHERE run_id = ?", [run_id])
        store.insert_arrow("theme_runs", run_row, on_conflict="replace")
        store.insert_arrow("themes", theme_rows)
        store.insert_arrow("theme_items", item_rows)


@dataclass(frozen=True)
class ThemeCounts:
    uncovered_items: int
    previous_items: int
    themes: int
    themed_items: int


def refresh_themes(store: Store, config: ThemesConfig,
                   features: Callable[[list[str]], np.ndarray], run_id: str, *,
                   model_version: str, encoder_digest: str) -> ThemeCounts:
    """Find and record this run's themes; `features` gives pooled vectors (the cache)."""
    window = load_window(store, config)
    if window is None:
        return ThemeCounts(0, 0, 0, 0)
    texts = [i.text for i in window.current] + [i.text for i in window.previous]
    vectors = features(texts) if texts else np.zeros((0, 0))
    current = vectors[:len(window.current)]
    previous = vectors[len(window.current):]
    now = utcnow()
    themes = build_themes(window.current, current, previous,
                          known_themes(store, encoder_digest), config, now)
    save_themes(store, run_id, window, themes, model_version=model_version,
                encoder_digest=encoder_digest, computed_at=now)
    return ThemeCounts(len(window.current), len(window.previous), len(themes),
                       sum(t.size for t in themes))


def theme_examples(store: Store, theme_id: str, *,
                   counter_examples: int | None = None) -> list[tuple[str, int]]:
    """Training examples for a custom type made from a theme: its items (label 1, from the
    newest run that found it, nearest the centroid first) and a sample of negative items that
    other types cover (label 0; twice as many as positives unless told). Texts are redacted."""
    positives = list(dict.fromkeys(
        redact(text) for (text,) in store.fetch_rows("theme_item_texts", [theme_id])))
    if not positives:
        raise KeyError(f"no theme {theme_id!r}; see `mining themes list`")
    wanted = 2 * len(positives) if counter_examples is None else counter_examples
    seen = set(positives)
    negatives: list[str] = []
    for (text,) in store.fetch_rows("theme_counter_examples", [theme_id, wanted * 2]):
        text = redact(text)
        if text not in seen:
            seen.add(text)
            negatives.append(text)
        if len(negatives) == wanted:
            break
    return [(t, 1) for t in positives] + [(t, 0) for t in negatives]


# -- presentation ------------------------------------------------------------------------------
def growth_label(size: int, previous_size: int) -> str:
    if not previous_size:
        return "new this window"
    return f"{size / previous_size - 1:+.0%} ({previous_size} → {size})"


def report_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The report's rows: one per theme, examples one per line."""
    if frame.empty:
        return frame
    return pd.DataFrame({
        "theme": frame["theme_id"],
        "keywords": [", ".join(k) for k in frame["keywords"]],
        "items": frame["size"],
        "sites": [", ".join(s) for s in frame["sites"]],
        "growth vs previous window": [growth_label(int(s), int(p)) for s, p in
                                      zip(frame["size"], frame["previous_size"], strict=True)],
        "examples": [" ‖ ".join(e) for e in frame["examples"]],
    })
