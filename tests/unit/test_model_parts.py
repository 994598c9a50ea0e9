"""The network's layer split, head-and-tail truncation and disabled labels."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from mining.classify.model import LabelSpace, TextEncoder, decode, default_model_path
from tests.unit.test_quantize import tiny_model


def test_lower_then_upper_is_the_whole_network() -> None:
    model = tiny_model()
    ids = torch.tensor([[0, 5, 9, 17, 2, 1, 1], [0, 8, 8, 8, 8, 40, 2]])
    mask = (ids != 1).long()
    with torch.inference_mode():
        whole = model(ids, mask)
        for split in (0, 1):
            parts = model.upper(model.lower(ids, mask, split), mask, split)
            for a, b in zip(whole, parts, strict=True):
                assert torch.allclose(a, b, atol=1e-5)


def _encoder(repo_root: Path, truncation: str) -> TextEncoder:
    return TextEncoder(default_model_path(repo_root / "models"), 32, truncation, head_tokens=12)


def test_head_tail_keeps_both_ends_of_a_long_text(repo_root: Path) -> None:
    text = ("The check-in was fine and the lobby looked nice. " * 20
            + "We will never come back and I told all my friends.")
    head = _encoder(repo_root, "head").encode([text])[0]
    both = _encoder(repo_root, "head_tail").encode([text])[0]
    full = TextEncoder(default_model_path(repo_root / "models"), 512).encode([text])[0]
    assert len(head) == len(both) == 32
    assert both[:12] == full[:12]
    assert both[12:] == full[-20:]  # ends with the verdict and the closing token
    assert head[-1] != full[-2]
    short = "Rude staff."
    assert (_encoder(repo_root, "head_tail").encode([short])
            == _encoder(repo_root, "head").encode([short]))


def test_a_disabled_label_is_never_predicted_nor_scored() -> None:
    labels = LabelSpace("m", "1", ["negative", "neutral", "positive"], ["waiting", "other"],
                        ["voice", "exit"], {"waiting": 0.5, "other": 0.5},
                        {"voice": 0.5, "exit": 0.5}, disabled=["other", "exit"])
    s = np.array([[0.8, 0.1, 0.1]])
    f = np.array([[0.9, 0.99]])
    r = np.array([[0.7, 0.99]])
    (prediction,) = decode(labels, s, f, r)
    assert prediction.failure_types == ["waiting"]
    assert set(prediction.failure_scores) == {"waiting"}
    assert prediction.responses == ["voice"]
    assert set(prediction.response_scores) == {"voice"}


def test_response_heads_take_their_own_regularisation() -> None:
    from mining.classify.heads import fit_heads

    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    sentiment = (x[:, 0] > 0).astype(int)
    failure = (x[:, 1:3] > 0).astype(np.float32)
    response = (x[:, 3:5] > 0).astype(np.float32)
    ones_f, ones_r = np.ones_like(failure), np.ones_like(response)
    same = fit_heads(x, sentiment, failure, ones_f, response, ones_r, 2, 13, c=1.0)
    default = fit_heads(x, sentiment, failure, ones_f, response, ones_r, 2, 13, c=1.0,
                        response_c=None)
    strong = fit_heads(x, sentiment, failure, ones_f, response, ones_r, 2, 13, c=1.0,
                       response_c=0.01)
    assert np.array_equal(same.weights["response"], default.weights["response"])
    assert np.array_equal(strong.weights["failure"], same.weights["failure"])
    assert (np.abs(strong.weights["response"]).sum()
            < 0.5 * np.abs(same.weights["response"]).sum())


def test_the_baseline_key_changes_with_its_data_rows_labels_and_seed(repo_root: Path) -> None:
    from mining.classify.baseline import baseline_key
    from mining.classify.data import Example, LabelIds
    from mining.taxonomy import Taxonomy

    ids = LabelIds.of(Taxonomy.load(repo_root / "config" / "taxonomy.yaml"))
    files = [{"path": "data/labels/corpus.csv", "sha256": "ab", "rows": 3}]
    rows = [Example("corpus:c1", "corpus_train", "we waited an hour", "en", "negative",
                    {"waiting": 1}, {"voice": 0}),
            Example("corpus:c2", "corpus_train", "lovely room", "en", "positive")]
    key = baseline_key(files, ids, 13, rows)
    assert baseline_key([dict(files[0])], ids, 13, list(rows)) == key
    assert baseline_key([dict(files[0], sha256="cd")], ids, 13, rows) != key
    assert baseline_key(files, ids, 14, rows) != key
    assert baseline_key(files, ids, 13, rows[:1]) != key  # fewer rows (smaller caps)
    corrected = Example("corpus:c1", "corpus_train", "we waited an hour", "en", "negative",
                        {"waiting": 1}, {"voice": 1})
    assert baseline_key(files, ids, 13, [corrected, rows[1]]) != key  # a correction
    renamed = LabelIds(ids.sentiments, ["late" if t == "waiting" else t
                                        for t in ids.failure_types], ids.responses)
    assert baseline_key(files, renamed, 13, rows) != key


def test_the_card_gives_the_whole_training_command_time() -> None:
    from mining.classify.card import _training_time

    metrics = {"train_seconds": 1229.4, "command_seconds": 1480.0,
               "history": [{"seconds": 352.0}, {"seconds": 397.0}]}
    line = _training_time(metrics)
    assert "fine-tuning 1229 s (2 epochs: 352 s, 397 s)" in line and "**1480 s**" in line
    refit = _training_time(metrics | {"heads_only": {"encoder_from": "radar-e5/1",
                                                     "seconds_to_fit": 20.0},
                                      "command_seconds": 41.0})
    assert "41 s in all" in refit and "radar-e5/1" in refit
    flags = {"avx2": True, "avx512f": False, "avx512_vnni": False, "avx_vnni": False}
    recorded = _training_time(metrics | {"machine": {"cores": 2, "cpu_flags": flags}})
    assert "2 CPU cores; CPU flags avx2 yes, avx512f no, avx512_vnni no, avx_vnni no" in recorded


def _vector(text: str) -> np.ndarray:
    """A fixed pseudo-feature vector per text (what an encoder would return)."""
    seed = int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)
    return np.random.default_rng(seed).normal(size=12).astype(np.float32)


def test_a_refit_encodes_only_rows_its_heads_learn_from_and_fits_the_same_heads(
        repo_root: Path) -> None:
    from mining.classify.data import Example
    from mining.classify.heads import Heads, fit_heads
    from mining.classify.lexical import LexicalFeatures
    from mining.classify.train import TrainConfig, refit, targets

    cfg = TrainConfig.load(repo_root / "config" / "train.yaml")
    ids = cfg.label_ids()
    rng = np.random.default_rng(3)
    words = ["rude", "slow", "dirty", "never again", "told friends", "bill", "great", "房间"]
    train = []
    for i in range(160):
        text = f"{i} " + " ".join(rng.choice(words, size=4))
        if i % 4 == 0:  # sentiment only, as the Chinese hotel reviews
            sentiment = ("negative", "positive")[i % 8 // 4]
            train.append(Example(f"s{i}", "chnsenticorp", text, "zh", sentiment))
            continue
        failures = {t: int(rng.random() < 0.3) for t in ids.failure_types}
        responses = {r: int(rng.random() < 0.3) for r in ids.responses} if i % 2 else {}
        train.append(Example(f"e{i}", "corpus", text, "en", ids.sentiments[i % 3], failures,
                             responses))
    asked: list[str] = []

    def features(texts: list[str]) -> np.ndarray:
        asked.extend(texts)
        return np.stack([_vector(t) for t in texts])

    width, n = 12, len(ids.sentiments)
    kept = Heads({"sentiment": np.ones((n, width), np.float32),
                  "failure": np.zeros((len(ids.failure_types), width), np.float32),
                  "response": np.zeros((len(ids.responses), width), np.float32)},
                 {"sentiment": np.zeros(n, np.float32),
                  "failure": np.zeros(len(ids.failure_types), np.float32),
                  "response": np.zeros(len(ids.responses), np.float32)})
    heads = refit(kept, train, features, cfg)
    assert sorted(asked) == sorted(e.text for e in train if e.failures or e.responses)

    # The same heads as a refit that encodes every training text.
    y = targets(train, ids)
    everything = fit_heads(np.stack([_vector(e.text) for e in train]), y["sentiment"].numpy(),
                           y["failure"].numpy(), y["failure_mask"].numpy(),
                           y["response"].numpy(), y["response_mask"].numpy(), n, cfg.seed,
                           cfg.heads_c, response_c=cfg.response_heads_c,
                           lexical=LexicalFeatures.fit_transform([e.text for e in train]))
    np.testing.assert_array_equal(heads.weights["sentiment"], kept.weights["sentiment"])
    for kind in ("failure", "response"):
        np.testing.assert_allclose(heads.weights[kind], everything.weights[kind], atol=1e-6)
        np.testing.assert_allclose(heads.biases[kind], everything.biases[kind], atol=1e-6)
    assert heads.response_lexical is not None and everything.response_lexical is not None
    np.testing.assert_allclose(heads.response_lexical, everything.response_lexical, atol=1e-6)
