from __future__ import annotations

import os
from pathlib import Path

import pytest

from mining.classify.model import FeedbackClassifier, default_model_path


@pytest.fixture(scope="session")
def model_dir(repo_root: Path) -> Path:
    """The committed default model (or MINING_MODEL_PATH)."""
    override = os.environ.get("MINING_MODEL_PATH")
    return Path(override) if override else default_model_path(repo_root / "models")


@pytest.fixture(scope="session")
def classifier(model_dir: Path) -> FeedbackClassifier:
    return FeedbackClassifier.load(model_dir)
