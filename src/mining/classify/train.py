"""`mining train`: fine-tune the encoder on the configured data, export, evaluate, write a card.

Deterministic for a given config and data (seeded sampling, shuffling and initialisation; fixed
hash splits). Writes `models/<name>/<version>/` and, when the model is good (it matches or beats
the TF-IDF baseline on every sentiment validation set), points `models/DEFAULT` at it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import shutil
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from mining.classify import card, data
from mining.classify.baseline import TfidfBaseline
from mining.classify.data import FAILURE_TYPES, RESPONSES, SENTIMENTS, Example
from mining.classify.encoders import BaseEncoder, resolve_base
from mining.classify.evaluate import evaluate_frame, headline
from mining.classify.model import (
    LABELS_FILE,
    ONNX_FILE,
    TOKENIZER_FILES,
    FeedbackClassifier,
    LabelSpace,
    MultiHeadModel,
    Prediction,
    TextEncoder,
    export_onnx,
    length_sorted_batches,
    quantize_onnx,
)
from mining.progress import progress_bar

log = logging.getLogger("mining")


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shared: Path = Path("../shared/data")
    gold: Path | None = Path("data/labels/gold.csv")
    gold_in_training: bool = Field(
        False, description="Train on the gold set's train part too (else it only tunes the "
                            "response thresholds); its test part is always held out.")
    airline_max: int = 9400
    restaurants_max: int = 2500
    chinese_max: int = 3000
    cfpb_max: int = 300
    dev_max_per_set: int = 800


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "radar-e5"
    base: str = "e5"
    seed: int = 13
    epochs: int = Field(3, ge=1)
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    batch_size: int = 16
    max_length: int = 128
    freeze_embeddings: bool = True
    response_loss_weight: float = 1.0
    failure_loss_weight: float = 1.0
    failure_pos_weight_cap: float = Field(
        1.0, ge=1.0, description="Rare failure types weigh their positives by sqrt(negatives / "
                                 "positives) in training, at most this much; 1 turns it off.")
    threads: int = 2
    models_dir: Path = Path("models")
    cache_dir: Path = Path(".cache/base")
    data: DataConfig = DataConfig()

    @classmethod
    def load(cls, path: Path | None) -> TrainConfig:
        if path is None:
            return cls()
        if not path.is_file():
            raise FileNotFoundError(f"training config not found: {path}")
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


# -- data -------------------------------------------------------------------------------------
def file_record(path: Path, rows: int) -> dict[str, Any]:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"path": str(path), "sha256": digest, "rows_in_file": rows}


BASE_COMPARISON_FILE = "base_comparison.json"
# Above any probability: the label is never predicted.
DISABLED_THRESHOLD = 1.01


def _sample(examples: list[Example], limit: int, rng: random.Random) -> list[Example]:
    if len(examples) <= limit:
        return list(examples)
    return rng.sample(examples, limit)


# Train examples, dev sets, validation sets and data-file records.
Datasets = tuple[list[Example], dict[str, list[Example]], dict[str, list[Example]],
                 list[dict[str, Any]]]


def build_datasets(cfg: TrainConfig) -> Datasets:
    """Train examples, dev sets (threshold tuning), validation sets (reported) and file records."""
    rng = random.Random(cfg.seed)
    shared = cfg.data.shared
    airline_path = shared / "airline_tweets" / "tweets.csv"
    hotel_path = shared / "chnsenticorp_hotel" / "reviews.csv"
    cfpb_path = shared / "cfpb_complaints" / "complaints_sample.csv"
    airline = data.airline_examples(airline_path)
    restaurants = data.restaurant_examples(shared)
    restaurant_val = data.restaurant_validation(shared)
    hotel = data.chinese_hotel_examples(hotel_path)
    cfpb = data.cfpb_examples(cfpb_path)
    files = [file_record(airline_path, len(airline)), file_record(hotel_path, len(hotel)),
             file_record(cfpb_path, len(cfpb))]
    for name in ("semeval2014_restaurants/train.xml", "mams_acsa/train.xml", "mams_acsa/val.xml"):
        files.append(file_record(shared / name, -1))

    def parts(examples: list[Example]) -> dict[str, list[Example]]:
        out: dict[str, list[Example]] = {"train": [], "dev": [], "validation": []}
        for e in examples:
            out[data.split_of(e.uid)].append(e)
        return out

    a, r, h, c = parts(airline), parts(restaurants), parts(hotel), parts(cfpb)
    train = (_sample(a["train"], cfg.data.airline_max, rng)
             + _sample(r["train"] + r["validation"], cfg.data.restaurants_max, rng)
             + _sample(h["train"], cfg.data.chinese_max, rng)
             + _sample(c["train"], cfg.data.cfpb_max, rng))
    dev_limit = cfg.data.dev_max_per_set
    dev = {"airline": _sample(a["dev"], dev_limit, rng), "restaurants": _sample(r["dev"],
           dev_limit, rng), "chinese_hotel": _sample(h["dev"], dev_limit, rng)}
    validation = {"airline": a["validation"], "restaurants_mams_val": restaurant_val,
                  "chinese_hotel": h["validation"]}
    if cfg.data.gold is not None and cfg.data.gold.is_file():
        gold = data.gold_examples(cfg.data.gold)
        files.append(file_record(cfg.data.gold, len(gold)))
        gold_train = [e for e in gold if e.dataset == "gold_train"]
        if cfg.data.gold_in_training:
            train += gold_train
        dev["gold_train"] = gold_train
        validation["gold_test"] = [e for e in gold if e.dataset == "gold_test"]
    train = data.with_weak_responses(train)
    for examples in dev.values():
        data.with_weak_responses(examples)
    rng.shuffle(train)
    return train, dev, validation, files


# -- tensors ----------------------------------------------------------------------------------
def targets(examples: Sequence[Example]) -> dict[str, torch.Tensor]:
    n = len(examples)
    sentiment = torch.full((n,), -100, dtype=torch.long)
    failure = torch.zeros((n, len(FAILURE_TYPES)))
    failure_mask = torch.zeros((n, len(FAILURE_TYPES)))
    response = torch.zeros((n, len(RESPONSES)))
    response_mask = torch.zeros((n, len(RESPONSES)))
    for i, e in enumerate(examples):
        if e.sentiment:
            sentiment[i] = SENTIMENTS.index(e.sentiment)
        for label, value in e.failures.items():
            j = FAILURE_TYPES.index(label)
            failure[i, j], failure_mask[i, j] = value, 1
        for label, value in e.responses.items():
            j = RESPONSES.index(label)
            response[i, j], response_mask[i, j] = value, 1
    return {"sentiment": sentiment, "failure": failure, "failure_mask": failure_mask,
            "response": response, "response_mask": response_mask}


def shuffled_batches(lengths: Sequence[int], batch_size: int, rng: random.Random
                     ) -> list[list[int]]:
    """Length-bucketed batches (little padding) in a seeded random order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    window = batch_size * 50
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def tensor_batch(encoder: TextEncoder, ids: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
    input_ids, mask = encoder.pad(ids)
    return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}


def masked_bce(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
               pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    if mask.sum() == 0:
        return logits.sum() * 0.0
    loss = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none",
                                                          pos_weight=pos_weight)
    return (loss * mask).sum() / mask.sum()


def positive_weights(target: torch.Tensor, mask: torch.Tensor, cap: float) -> torch.Tensor:
    """sqrt(negatives / positives) per label, between 1 and `cap`: a rare failure type (a few
    hundred of ten thousand labelled rows) is otherwise drowned by its negatives and never
    predicted, while the full ratio would make every head fire everywhere."""
    positives = (target * mask).sum(0)
    negatives = ((1 - target) * mask).sum(0)
    ratio = torch.sqrt(negatives / positives.clamp(min=1.0))
    return ratio.clamp(min=1.0, max=cap)


class TorchPredictor:
    """The fp32 torch model behind the `predict` interface, to measure what int8 costs."""

    def __init__(self, model: MultiHeadModel, encoder: TextEncoder, labels: LabelSpace) -> None:
        self.model, self.encoder, self.labels = model, encoder, labels

    def probabilities(self, texts: Sequence[str], batch_size: int = 32
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids = self.encoder.encode(texts)
        outs = [np.zeros((len(texts), k), dtype=np.float32) for k in
                (len(SENTIMENTS), len(FAILURE_TYPES), len(RESPONSES))]
        self.model.eval()
        with torch.inference_mode():
            for batch in length_sorted_batches([len(x) for x in ids], batch_size):
                s, f, r = self.model(**tensor_batch(self.encoder, [ids[i] for i in batch]))
                outs[0][batch] = s.softmax(-1).numpy()
                outs[1][batch] = f.sigmoid().numpy()
                outs[2][batch] = r.sigmoid().numpy()
        return outs[0], outs[1], outs[2]

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[Prediction]:
        s, f, r = self.probabilities(texts, batch_size)
        lab = self.labels
        return [Prediction(
            lab.sentiments[int(s[i].argmax())], float(s[i].max()),
            {t: float(s[i, j]) for j, t in enumerate(lab.sentiments)},
            [t for j, t in enumerate(lab.failure_types)
             if f[i, j] >= lab.failure_thresholds.get(t, 0.5)],
            {t: float(f[i, j]) for j, t in enumerate(lab.failure_types)},
            [t for j, t in enumerate(lab.responses)
             if r[i, j] >= lab.response_thresholds.get(t, 0.5)],
            {t: float(r[i, j]) for j, t in enumerate(lab.responses)},
        ) for i in range(len(texts))]


# -- thresholds -------------------------------------------------------------------------------
def best_threshold(scores: np.ndarray, truth: np.ndarray, beta: float = 1.0,
                   grid: Sequence[float] = tuple(np.arange(0.05, 0.91, 0.05))) -> float:
    best, best_value = 0.5, -1.0
    for threshold in grid:
        predicted = scores >= threshold
        tp = float((predicted & truth).sum())
        fp = float((predicted & ~truth).sum())
        fn = float((~predicted & truth).sum())
        denominator = (1 + beta**2) * tp + beta**2 * fn + fp
        value = (1 + beta**2) * tp / denominator if denominator else 0.0
        if value > best_value + 1e-9:
            best, best_value = float(threshold), value
    return round(best, 2)


def tune_thresholds(predictor: TorchPredictor, dev: dict[str, list[Example]]
                    ) -> tuple[dict[str, float], dict[str, float]]:
    """Failure thresholds maximise F1 on the dev splits; response thresholds favour precision
    (F0.5) on the gold train part when there is one, else on the weak dev labels."""
    examples = [e for name, ex in dev.items() if name != "gold_train" for e in ex]
    _, f, r = predictor.probabilities([e.text for e in examples])
    failure_thresholds = {}
    for j, label in enumerate(FAILURE_TYPES):
        rows = [i for i, e in enumerate(examples) if label in e.failures]
        truth = np.array([examples[i].failures[label] == 1 for i in rows], dtype=bool)
        # A head with too few labelled positives to tune was not learnt either: it stays off
        # rather than firing at an arbitrary 0.5 on untrained scores.
        failure_thresholds[label] = (best_threshold(f[rows, j], truth)
                                     if truth.sum() >= 5 else DISABLED_THRESHOLD)
    response_source = dev.get("gold_train") or examples
    if response_source is not examples:
        _, _, r = predictor.probabilities([e.text for e in response_source])
    response_thresholds = {}
    for j, label in enumerate(RESPONSES):
        rows = [i for i, e in enumerate(response_source) if label in e.responses]
        truth = np.array([response_source[i].responses[label] == 1 for i in rows], dtype=bool)
        response_thresholds[label] = (best_threshold(r[rows, j], truth, beta=0.5,
                                                     grid=tuple(np.arange(0.3, 0.96, 0.05)))
                                      if truth.sum() >= 3 else DISABLED_THRESHOLD)
    return failure_thresholds, response_thresholds


# -- training ---------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(base: BaseEncoder, cfg: TrainConfig) -> MultiHeadModel:
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(base.model_dir, add_pooling_layer=False)
    if cfg.freeze_embeddings:
        encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    hidden = int(encoder.config.hidden_size)
    return MultiHeadModel(encoder, hidden, len(SENTIMENTS), len(FAILURE_TYPES), len(RESPONSES))


def fit(model: MultiHeadModel, encoder: TextEncoder, train: list[Example],
        cfg: TrainConfig) -> list[dict[str, float]]:
    rng = random.Random(cfg.seed)
    ids = encoder.encode([e.text for e in train])
    lengths = [len(x) for x in ids]
    y = targets(train)
    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    body_params = [p for n, p in model.named_parameters()
                   if n.startswith("encoder.") and p.requires_grad]
    optimizer = torch.optim.AdamW([
        {"params": body_params, "lr": cfg.learning_rate},
        {"params": head_params, "lr": cfg.head_learning_rate},
    ], weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warmup = max(1, int(total * cfg.warmup_ratio))
    def schedule(step: int) -> float:
        return min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    failure_pos_weight = positive_weights(y["failure"], y["failure_mask"],
                                          cfg.failure_pos_weight_cap)
    log.info("failure positive weights: %s",
             {t: round(w, 2) for t, w in zip(FAILURE_TYPES, failure_pos_weight.tolist(),
                                             strict=True)})
    history = []
    for epoch in range(cfg.epochs):
        model.train()
        started = time.perf_counter()
        losses = []
        batches = shuffled_batches(lengths, cfg.batch_size, rng)
        with progress_bar(len(batches), f"epoch {epoch + 1}/{cfg.epochs}") as advance:
            for batch in batches:
                inputs = tensor_batch(encoder, [ids[i] for i in batch])
                s, f, r = model(**inputs)
                index = torch.tensor(batch)
                loss = nn.functional.cross_entropy(s, y["sentiment"][index], ignore_index=-100) \
                    if (y["sentiment"][index] >= 0).any() else s.sum() * 0.0
                loss = loss + cfg.failure_loss_weight * masked_bce(
                    f, y["failure"][index], y["failure_mask"][index], failure_pos_weight)
                loss = loss + cfg.response_loss_weight * masked_bce(
                    r, y["response"][index], y["response_mask"][index])
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                losses.append(float(loss.detach()))
                advance(1)
        seconds = time.perf_counter() - started
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": seconds})
        log.info("epoch %d: loss %.4f, %.0f s", epoch + 1, history[-1]["loss"], seconds)
    return history


def next_version(model_root: Path) -> str:
    """Today's date and one more than the highest number of today (never reusing a gap)."""
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    taken = [int(p.name.rsplit(".", 1)[1]) for p in model_root.glob(f"{today}.*")
             if p.name.rsplit(".", 1)[1].isdigit()]
    return f"{today}.{max(taken, default=0) + 1}"


def measure_speed(predictor: FeedbackClassifier, texts: Sequence[str]) -> dict[str, float]:
    predictor.probabilities(texts[:32])  # warm-up
    started = time.perf_counter()
    predictor.probabilities(texts)
    seconds = time.perf_counter() - started
    return {"texts": len(texts), "seconds": round(seconds, 2),
            "texts_per_second": round(len(texts) / seconds, 1)}


def _corpus(datasets: Datasets) -> Iterator[str]:
    """Every text of the built datasets: what the base vocabulary is trimmed to."""
    train, dev, validation, _ = datasets
    for group in (train, *dev.values(), *validation.values()):
        for e in group:
            yield e.text


def train_model(config_path: Path | None = None, cfg: TrainConfig | None = None) -> Path:
    """Train, then export, evaluate against the baseline and write the model directory."""
    cfg = cfg or TrainConfig.load(config_path)
    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    started = time.perf_counter()
    datasets = build_datasets(cfg)
    train, _, validation, _ = datasets
    log.info("training examples: %d; validation sets: %s", len(train),
             {k: len(v) for k, v in validation.items()})
    base = resolve_base(cfg.base, cfg.cache_dir, lambda: _corpus(datasets))
    encoder = TextEncoder(base.model_dir, cfg.max_length)
    seed_everything(cfg.seed)
    model = build_model(base, cfg)
    history = fit(model, encoder, train, cfg)
    train_seconds = time.perf_counter() - started
    model_root = cfg.models_dir / cfg.name
    out = model_root / next_version(model_root)
    (out / "checkpoint").mkdir(parents=True)
    torch.save(model.state_dict(), out / "checkpoint" / "model.pt")
    return finalize(out, cfg, model, base, encoder, datasets,
                    {"history": history, "train_seconds": round(train_seconds, 1)})


def rebuild_from_checkpoint(model_dir: Path, config_path: Path | None = None) -> Path:
    """Redo export, thresholds, evaluation and card from `checkpoint/model.pt` (no training)."""
    cfg = TrainConfig.load(config_path)
    torch.set_num_threads(cfg.threads)
    previous = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
    datasets = build_datasets(cfg)
    base = resolve_base(cfg.base, cfg.cache_dir, lambda: _corpus(datasets))
    encoder = TextEncoder(base.model_dir, cfg.max_length)
    model = build_model(base, cfg)
    model.load_state_dict(torch.load(model_dir / "checkpoint" / "model.pt"))
    return finalize(model_dir, cfg, model, base, encoder, datasets,
                    {"history": previous["history"], "train_seconds": previous["train_seconds"]})


def _base_comparison(models_dir: Path) -> dict[str, Any] | None:
    """What `bench/compare_bases.py` recorded next to the models, for the card."""
    path = models_dir / BASE_COMPARISON_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def finalize(out: Path, cfg: TrainConfig, model: MultiHeadModel, base: BaseEncoder,
             encoder: TextEncoder, datasets: Datasets,
             training: dict[str, Any]) -> Path:
    """Tune thresholds, export int8 ONNX, evaluate model and baseline, write card and metrics."""
    started = time.perf_counter()
    train, dev, validation, files = datasets
    version = out.name
    checkpoint = out / "checkpoint"
    labels = LabelSpace(cfg.name, version, SENTIMENTS, FAILURE_TYPES, RESPONSES, {}, {},
                        cfg.max_length)
    model.eval()
    torch_predictor = TorchPredictor(model, encoder, labels)
    labels.failure_thresholds, labels.response_thresholds = tune_thresholds(torch_predictor, dev)

    sample = tensor_batch(encoder, encoder.encode(["a short sample", "一个例子 in two languages"]))
    export_onnx(model, sample, checkpoint / "model.onnx")
    quantize_onnx(checkpoint / "model.onnx", out / ONNX_FILE)
    for name in TOKENIZER_FILES:
        shutil.copy2(base.model_dir / name, out / name)
    labels.save(out / LABELS_FILE)
    shutil.copy2(Path("config/taxonomy.yaml"), out / "taxonomy.yaml")

    classifier = FeedbackClassifier.load(out, cfg.threads)
    baseline = TfidfBaseline(cfg.seed).fit(train)
    evaluation: dict[str, Any] = {}
    for name, examples in validation.items():
        frame = data.to_eval_frame(examples)
        evaluation[name] = {
            "n": len(examples),
            "model_int8": evaluate_frame(classifier, frame),
            "model_fp32": evaluate_frame(torch_predictor, frame),
            "baseline_tfidf_lr": evaluate_frame(baseline, frame),
        }
        log.info("%s: int8 %s | fp32 %s | baseline %s", name,
                 headline(evaluation[name]["model_int8"]),
                 headline(evaluation[name]["model_fp32"]),
                 headline(evaluation[name]["baseline_tfidf_lr"]))
    speed = measure_speed(classifier, [e.text for e in validation["airline"]])
    good = all(
        (evaluation[n]["model_int8"]["sentiment"]["accuracy"] or 0)
        >= (evaluation[n]["baseline_tfidf_lr"]["sentiment"]["accuracy"] or 0)
        for n in ("airline", "chinese_hotel") if n in evaluation)
    metrics = {
        "name": cfg.name, "version": version, "created": datetime.now(UTC).isoformat(),
        "base": {"key": base.key, "package": base.package, "version": base.package_version,
                 "description": base.description},
        "config": json.loads(cfg.model_dump_json()),
        "data_files": files,
        "training_examples": {ds: sum(e.dataset == ds for e in train)
                              for ds in sorted({e.dataset for e in train})},
        **training,
        "thresholds": {"failure": labels.failure_thresholds,
                       "response": labels.response_thresholds},
        "validation": evaluation, "speed_int8_airline_validation": speed,
        "good": good,
        "base_comparison": _base_comparison(cfg.models_dir),
    }
    card.write(out, metrics)
    if good:
        (cfg.models_dir / "DEFAULT").write_text(f"{cfg.name}/{version}\n", encoding="utf-8")
    log.info("model written to %s (good: %s); export and evaluation took %.0f s", out, good,
             time.perf_counter() - started)
    return out
