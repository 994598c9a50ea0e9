"""Text cleaning, language detection and content hashing (pure functions)."""

from __future__ import annotations

import hashlib
import html
import math
import re
import string
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_SCRIPT_STYLE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,2000}>|<!--.*?-->", re.DOTALL)
_INVISIBLE = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"
                        r"\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff]")
_HANDLE_OR_URL = re.compile(r"@\w+|https?://\S+|www\.\S+|#")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]")
_ASCII_LETTERS = string.ascii_letters.encode()
LANGUAGE_SAMPLE_CHARS = 400


def clean_text(raw: str) -> str:
    """NFKC-normalised text with HTML, control and zero-width characters removed.

    NFKC folds full-width forms (ＡＢＣ，！) to ASCII; Chinese characters are unchanged.
    """
    text = raw
    if "<" in text:
        text = _TAG.sub(" ", _SCRIPT_STYLE.sub(" ", text))
    text = html.unescape(text)
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    return collapse_spaces(text)


def collapse_spaces(text: str) -> str:
    """Runs of whitespace as one space, none at the ends: `re.sub(r"\\s+", " ", t).strip()`,
    since `str.split` and `\\s` both split on `str.isspace` characters, but three times faster."""
    return " ".join(text.split())


@dataclass(frozen=True)
class _Langid:
    """py3langid's model as arrays, for scoring many texts in one vectorised pass.

    Its tokenizer is an Aho-Corasick automaton over UTF-8 bytes whose states are at most
    `depth` bytes deep, so the state after any byte is the state reached from the root over
    the last `depth` bytes alone: one gather per byte offset for all texts at once, instead of
    a Python loop per byte. Texts are joined by a byte (0xFF, never in UTF-8) that sends every
    state back to the root, so no n-gram spans two texts.
    """

    next_base: np.ndarray  # row offset * 256 + byte -> row offset of the next state
    next_output: np.ndarray  # row offset * 256 + byte -> feature of the next state, or -1
    root_base: int
    ptc: np.ndarray  # (features, classes) log-probabilities, float32
    pc: np.ndarray  # (classes,) priors
    classes: tuple[str, ...]
    alias_pairs: tuple[tuple[int, int], ...]
    depth: int


_SEPARATOR = 0xFF


_LANGID_LOCK = threading.Lock()
_prefetching: list[threading.Thread] = []


def prefetch_language_model() -> None:
    """Start loading the langid model in a background thread, if nothing has yet.

    Loading takes about a second, mostly xz decompression and numpy, which release the GIL:
    started before a batch's rows are cleaned and redacted, it runs beside that work on a
    second core instead of after it."""
    with _LANGID_LOCK:
        if _prefetching or _load_langid.cache_info().currsize:
            return
        thread = threading.Thread(target=_langid, name="langid-load", daemon=True)
        _prefetching.append(thread)
    thread.start()


def _langid() -> _Langid:
    """The langid model, loaded once per process (by whichever thread asks first)."""
    with _LANGID_LOCK:
        return _load_langid()


@lru_cache(maxsize=1)
def _load_langid() -> _Langid:
    """The langid model as arrays (it ships inside the py3langid package)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    nextmove = np.frombuffer(model.tk_nextmove, dtype=np.uint32)
    rowbase = np.asarray(model.tk_row, dtype=np.int32) << 8
    if np.any(nextmove[rowbase + _SEPARATOR] != 0):
        raise RuntimeError("py3langid model: byte 0xFF does not reset the tokenizer")
    # Breadth-first depth of every state: the longest n-gram the tokenizer tracks.
    depth = np.full(len(rowbase), -1)
    depth[0], frontier, level = 0, np.zeros(1, dtype=np.int64), 0
    while len(frontier):
        reached = nextmove[rowbase[frontier][:, None] + np.arange(256)].ravel()
        level += 1
        depth[reached[depth[reached] < 0]] = level
        frontier = np.flatnonzero(depth == level)
    return _Langid(rowbase[nextmove], np.asarray(model.tk_output, dtype=np.int32)[nextmove],
                   int(rowbase[0]), np.asarray(model.nb_ptc, dtype=np.float32),
                   np.asarray(model.nb_pc), tuple(model.nb_classes),
                   tuple(model._alias_pairs), int(depth.max()))


def _langid_bytes(text: str) -> bytes:
    """The bytes py3langid scores for a text (its `_encode`)."""
    if text.isupper():
        text = text.lower()
    return unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")


def langid_classify(texts: Sequence[str]) -> list[str]:
    """py3langid's `classify` label for each text, computed for all texts at once."""
    if not texts:
        return []
    from scipy.sparse import csr_matrix

    model = _langid()
    encoded = [_langid_bytes(t) for t in texts]
    lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
    separator = bytes([_SEPARATOR])
    joined = separator * (model.depth - 1) + separator.join(encoded) + separator
    padded = np.frombuffer(joined, dtype=np.uint8).astype(np.int32)
    positions = len(padded) - (model.depth - 1)
    base = model.next_base[model.root_base + padded[:positions]]
    for offset in range(1, model.depth - 1):
        base = model.next_base[base + padded[offset:offset + positions]]
    features = model.next_output[base + padded[model.depth - 1:]]
    owner = np.repeat(np.arange(len(texts)), lengths + 1)
    seen = features >= 0
    counts = csr_matrix((np.ones(int(seen.sum()), dtype=np.float32),
                         (owner[seen], features[seen])),
                        shape=(len(texts), model.ptc.shape[0]))
    counts.sum_duplicates()
    featureless = np.diff(counts.indptr) == 0
    counts.data = np.log1p(counts.data)
    scores = np.asarray(counts @ model.ptc, dtype=np.float32) + model.pc
    # As py3langid with norm_probs: scores of featureless texts are all 0, probabilities are
    # scaled by 1/sqrt(bytes), and script aliases (srl and sr) add up under one label.
    scores[featureless] = 0.0
    scale = np.array([1.0 / math.sqrt(n or 1) for n in lengths.tolist()], dtype=np.float32)
    scores *= scale[:, None]
    np.exp(scores - scores.max(axis=1, keepdims=True), out=scores)
    scores /= scores.sum(axis=1, keepdims=True)
    for first, dupe in model.alias_pairs:
        scores[:, first] += scores[:, dupe]
        scores[:, dupe] = 0.0
    return [model.classes[i] for i in scores.argmax(axis=1).tolist()]


def _script_language(text: str) -> tuple[str | None, str]:
    """(language, sample): the language when the script decides it, else None and the sample
    langid must read (handles, URLs and '#' removed)."""
    stripped = text[:LANGUAGE_SAMPLE_CHARS]
    if "@" in stripped or "#" in stripped or "http" in stripped or "www." in stripped:
        stripped = _HANDLE_OR_URL.sub(" ", stripped)
    if stripped.isascii():  # letters are A-Z and a-z, and there is no CJK
        letters = len(stripped) - len(stripped.encode().translate(None, _ASCII_LETTERS))
        cjk = 0
    else:
        cjk = len(_CJK.findall(stripped))
        # Letters are at most the characters, so this ratio bounds cjk / letters from below:
        # mostly Chinese text is told without counting its letters.
        if cjk >= 2 and 10 * cjk >= 3 * len(stripped):
            return "zh", stripped
        letters = len(_LETTER.findall(stripped))
    if not letters:
        return "und", stripped
    if cjk >= 2 and cjk / letters >= 0.3:
        return "zh", stripped
    if letters < 3:
        return "und", stripped
    return None, stripped


def detect_languages(texts: Sequence[str]) -> list[str]:
    """ISO 639-1 code of each text; `und` when there is too little text to tell.

    Only the first `LANGUAGE_SAMPLE_CHARS` characters are read: a review's language is clear
    from its opening, and langid's cost grows with the length. Chinese is told by its script;
    the other texts go through langid together, in one vectorised pass."""
    decided: list[str | None] = []
    samples: list[str] = []
    for text in texts:
        language, sample = _script_language(text)
        decided.append(language)
        if language is None:
            samples.append(sample)
    found = iter(langid_classify(samples))
    return [language if language is not None else next(found) for language in decided]


def detect_language(text: str) -> str:
    """The language of one text (see `detect_languages`)."""
    return detect_languages([text])[0]


def content_hash(text: str) -> str:
    """sha256 of a canonical form, so texts differing only in case or spacing dedupe."""
    canonical = collapse_spaces(clean_text(text).casefold())
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
