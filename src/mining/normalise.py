"""Text cleaning, language detection and content hashing (pure functions)."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from functools import lru_cache
from typing import Any

_SCRIPT_STYLE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,2000}>|<!--.*?-->", re.DOTALL)
_INVISIBLE = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"
                        r"\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff]")
_SPACE = re.compile(r"\s+")
_HANDLE_OR_URL = re.compile(r"@\w+|https?://\S+|www\.\S+|#")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]")
LANGUAGE_SAMPLE_CHARS = 400


def clean_text(raw: str) -> str:
    """NFKC-normalised text with HTML, control and zero-width characters removed.

    NFKC folds full-width forms (ＡＢＣ，！) to ASCII; Chinese characters are unchanged.
    """
    text = _SCRIPT_STYLE.sub(" ", raw)
    if "<" in text:
        text = _TAG.sub(" ", text)
    text = html.unescape(text)
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    return _SPACE.sub(" ", text).strip()


@lru_cache(maxsize=1)
def _identifier() -> Any:
    """The langid model, loaded on first use (it ships inside the py3langid package)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str:
    """ISO 639-1 code; `und` when there is too little text to tell.

    Only the first `LANGUAGE_SAMPLE_CHARS` characters are read: a review's language is clear
    from its opening, and langid's cost grows with the length."""
    stripped = _HANDLE_OR_URL.sub(" ", text[:LANGUAGE_SAMPLE_CHARS])
    letters = _LETTER.findall(stripped)
    if not letters:
        return "und"
    cjk = len(_CJK.findall(stripped))
    if cjk >= 2 and cjk / len(letters) >= 0.3:
        return "zh"
    if len(letters) < 3:
        return "und"
    language, _ = _identifier().classify(stripped)
    return str(language)


def content_hash(text: str) -> str:
    """sha256 of a canonical form, so texts differing only in case or spacing dedupe."""
    canonical = _SPACE.sub(" ", clean_text(text).casefold()).strip()
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
