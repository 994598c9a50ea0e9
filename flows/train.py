"""Flow: fine-tune the classifier on demand (the `train` deployment)."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from mining.classify.train import train_model


@flow(name="radar-train", log_prints=True)
def train(config: Path = Path("config/train.yaml")) -> str:
    return str(train_model(config))
