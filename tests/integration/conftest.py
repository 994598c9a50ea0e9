from __future__ import annotations

import os
import subprocess
import sys
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


@pytest.fixture(scope="session")
def training_feature_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One feature cache for the session's heads-only refits of the shipped encoder: the first
    refit encodes the training texts, later tests find them (as a user's second refit does)."""
    return tmp_path_factory.mktemp("training-features")


@pytest.fixture(scope="session")
def sample_read_copy(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`mining run` on the whole bundled sample with the real model; its analysts' copy."""
    root = tmp_path_factory.mktemp("sample-run")
    read_copy = root / "radar_read.duckdb"
    done = subprocess.run(
        [sys.executable, "-m", "mining.cli", "run", "--db", str(root / "radar.duckdb"),
         "--read-copy", str(read_copy)],
        cwd=repo_root, capture_output=True, text=True, timeout=900,
        env=dict(os.environ))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return read_copy
