"""Recall over real-looking PII variants and false redactions over near-misses (issue 14).

The corpus is `redaction_corpus.yaml`. A variant counts as found only when the output is the
input with its secret replaced by the right token and nothing else changed, so a partial match
(`+44 (0)[PHONE]`) or an eaten prefix is a miss. Both sides are compared after NFKC, which
redaction applies first (full-width `：` becomes `:`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mining.redact import TOKENS, normalise_for_redaction, redact

CORPUS: dict[str, list[dict[str, Any]]] = yaml.safe_load(
    (Path(__file__).with_name("redaction_corpus.yaml")).read_text(encoding="utf-8"))


def expected(variant: dict[str, Any]) -> str:
    text = normalise_for_redaction(variant["text"])
    secret = normalise_for_redaction(variant["secret"])
    assert secret in text, variant
    return text.replace(secret, TOKENS[variant["kind"]])


def test_corpus_is_big_enough_and_covers_every_locale() -> None:
    variants, near = CORPUS["variants"], CORPUS["near_misses"]
    assert len(variants) >= 150 and len(near) >= 50
    locales = {"en-US", "en-GB", "zh-CN", "de", "fr"}
    assert {v["locale"] for v in variants} == locales
    assert {n["locale"] for n in near} == locales
    assert {v["kind"] for v in variants} == set(TOKENS)


def test_recall_100_percent_and_no_false_redactions() -> None:
    variants, near = CORPUS["variants"], CORPUS["near_misses"]
    missed = [(v["kind"], v["text"], redact(v["text"])) for v in variants
              if redact(v["text"]) != expected(v)]
    false = [(n["what"], n["text"], redact(n["text"])) for n in near
             if redact(n["text"]) != normalise_for_redaction(n["text"])]
    found = len(variants) - len(missed)
    print(f"\nredaction recall: {found}/{len(variants)} ({100 * found / len(variants):.1f} %); "
          f"false redactions: {len(false)}/{len(near)} near-misses")
    for kind, text, out in missed:
        print(f"  missed {kind}: {text!r} -> {out!r}")
    for what, text, out in false:
        print(f"  false redaction ({what}): {text!r} -> {out!r}")
    assert not missed
    assert not false
