"""The network's layer split, head-and-tail truncation and disabled labels."""

from __future__ import annotations

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
