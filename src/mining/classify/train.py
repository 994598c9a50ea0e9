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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from mining.classify import card, data
from mining.classify.baseline import TfidfBaseline, baseline_key
from mining.classify.data import Example, LabelIds
from mining.classify.encoders import BaseEncoder, resolve_base
from mining.classify.evaluate import evaluate_frame, headline
from mining.classify.export import export_onnx, heads_of, quantize_onnx
from mining.classify.features import CachedPredictor, FeatureCache, file_digest
from mining.classify.heads import HEADS_FILE, Heads, fit_heads
from mining.classify.lexical import LexicalFeatures
from mining.classify.model import (
    LABELS_FILE,
    ONNX_FILE,
    TOKENIZER_FILES,
    FeedbackClassifier,
    LabelSpace,
    Prediction,
    TextEncoder,
    decode,
    default_model_path,
    length_sorted_batches,
)
from mining.classify.network import MultiHeadModel
from mining.machine import has_bf16_units, machine_facts
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
    rated_max_per_set: int = Field(
        0, ge=0, description="At most this many rated reviews of each set in "
                             "`data.RATED_SETS` (half negative, half positive), for sentiment "
                             "only; 0 trains on none.")
    dev_max_per_set: int = 800
    validation_max_per_set: int | None = Field(
        None, description="At most this many texts of each public validation set (None: all, "
                          "as the card reports them); the gold and corpus test parts are whole.")
    corpus: Path | None = Field(
        Path("data/labels/corpus.csv"),
        description="The labelled corpus: its train part is trained on, its dev part tunes "
                    "the thresholds, its test part is only evaluated.")
    corrections: Path | None = Field(
        Path("data/labels/corrections.csv"),
        description="Analysts' corrections (`mining label import`; an absent file is none): "
                    "trained on only, replacing the labels of the same text.")
    weak_responses: bool = Field(
        False, description="Give public rows keyword-rule response labels (the recipe before "
                           "the corpus labelled responses by hand).")


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
    truncation: Literal["head", "head_tail"] = "head_tail"
    head_tokens: int = Field(64, description="With head_tail: tokens kept from the start.")
    layers: int | None = Field(None, ge=1, description="Keep only the base's first N layers "
                                                       "(a shallower, faster model).")
    frozen_layers: int = Field(
        0, ge=0, description="Freeze the first N layers (and the embeddings): their outputs are "
                             "computed once per text and cached, so each epoch runs only the "
                             "layers above.")
    disable_below_f1: float = Field(
        0.3, description="A failure type or response whose dev F1 stays below this is "
                         "disabled: never predicted, left out of the scores.")
    freeze_embeddings: bool = True
    response_loss_weight: float = 1.0
    failure_loss_weight: float = 1.0
    failure_pos_weight_cap: float = Field(
        1.0, ge=1.0, description="Rare failure types weigh their positives by sqrt(negatives / "
                                 "positives) in training, at most this much; 1 turns it off.")
    threads: int = 2
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "fp32", description="Arithmetic of fine-tuning: `bf16` runs the layers' products in "
                            "bfloat16 (autocast; weights, optimiser and loss stay fp32), `auto` "
                            "picks it where the CPU multiplies bf16 in hardware (AMX, AVX-512 "
                            "BF16) and fp32 elsewhere, where bf16 would be slower. fp32 by "
                            "default: the same recipe gives the same model on every CPU.")
    refit_heads: list[Literal["sentiment", "failure", "response"]] = Field(
        default_factory=list,
        description="After fine-tuning, and in --heads-only, these heads are refit as "
                    "class-balanced logistic regressions on the int8 features; the others keep "
                    "the network's (or the source model's) weights.")
    heads_c: float = Field(0.25, description="Inverse regularisation of the logistic heads.")
    response_heads_c: float | None = Field(
        None, description="The response heads' own inverse regularisation (default: heads_c).")
    compare_baseline: bool = Field(
        True, description="Fit the TF-IDF baseline on the same rows and show it in the card.")
    lexical_responses: bool = Field(
        False, description="Response heads read TF-IDF n-grams beside the pooled features.")
    models_dir: Path = Path("models")
    cache_dir: Path = Path(".cache/base")
    feature_cache_dir: Path = Path(".cache/features")
    taxonomy: Path = Field(Path("config/taxonomy.yaml"),
                           description="The label ids the model learns (its built-in types).")
    data: DataConfig = DataConfig()

    def label_ids(self) -> LabelIds:
        return LabelIds.load(self.taxonomy)

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


def _unseen(examples: list[Example], keys: set[str]) -> list[Example]:
    return [e for e in examples if data.text_key(e.text) not in keys]


def balanced_sample(examples: list[Example], limit: int, rng: random.Random) -> list[Example]:
    """At most `limit` examples, half negative and half positive; a side with too few gives
    its share to the other."""
    negative = [e for e in examples if e.sentiment == "negative"]
    positive = [e for e in examples if e.sentiment == "positive"]
    n = min(len(negative), max(limit // 2, limit - len(positive)))
    return _sample(negative, n, rng) + _sample(positive, min(len(positive), limit - n), rng)


def _draw(cfg: TrainConfig, name: str) -> random.Random:
    """Each draw its own seeded generator, so one set's size never moves another's sample."""
    return random.Random(f"{cfg.seed}:{name}")


def build_datasets(cfg: TrainConfig) -> Datasets:
    """Train examples, dev sets (threshold tuning), validation sets (reported) and file records.

    Texts are compared by `data.text_key` (a prefix, spacing and case aside). A held-out
    hand-labelled text (corpus dev or test, gold test) is never trained on, through a public
    set or a repeat inside the hand-labelled sets. A public text a hand-labelled set holds is
    not trained on from the public set either: its hand label is the better one. Public dev
    and validation texts that a hand-labelled set holds are left out of them."""
    ids = cfg.label_ids()
    shared = cfg.data.shared
    files: list[dict[str, Any]] = []
    labelled_files: list[Path] = []
    gold: list[Example] = []
    if cfg.data.gold is not None and cfg.data.gold.is_file():
        gold = data.gold_examples(cfg.data.gold, ids)
        files.append(file_record(cfg.data.gold, len(gold)))
        labelled_files.append(cfg.data.gold)
    corpus: list[Example] = []
    if cfg.data.corpus is not None and cfg.data.corpus.is_file():
        corpus = data.labelled_examples(cfg.data.corpus, "corpus", ids)
        files.append(file_record(cfg.data.corpus, len(corpus)))
        labelled_files.append(cfg.data.corpus)
    labelled_keys = {data.text_key(e.text) for e in gold + corpus}
    held_keys = {data.text_key(e.text) for e in gold + corpus
                 if e.dataset in ("gold_test", "corpus_dev", "corpus_test")}

    airline_path = shared / "airline_tweets" / "tweets.csv"
    hotel_path = shared / "chnsenticorp_hotel" / "reviews.csv"
    cfpb_path = shared / "cfpb_complaints" / "complaints_sample.csv"
    airline = data.airline_examples(airline_path, ids)
    restaurants = data.restaurant_examples(shared, ids)
    restaurant_val = data.restaurant_validation(shared, ids)
    hotel = data.chinese_hotel_examples(hotel_path)
    cfpb = data.cfpb_examples(cfpb_path)
    files += [file_record(airline_path, len(airline)), file_record(hotel_path, len(hotel)),
              file_record(cfpb_path, len(cfpb))]
    for name in ("semeval2014_restaurants/train.xml", "mams_acsa/train.xml", "mams_acsa/val.xml"):
        files.append(file_record(shared / name, -1))

    def parts(examples: list[Example]) -> dict[str, list[Example]]:
        out: dict[str, list[Example]] = {"train": [], "dev": [], "validation": []}
        for e in examples:
            out[data.split_of(e.uid)].append(e)
        return out

    a, r, h, c = parts(airline), parts(restaurants), parts(hotel), parts(cfpb)
    train = (_sample(_unseen(a["train"], labelled_keys), cfg.data.airline_max,
                     _draw(cfg, "airline"))
             + _sample(_unseen(r["train"] + r["validation"], labelled_keys),
                       cfg.data.restaurants_max, _draw(cfg, "restaurants"))
             + _sample(_unseen(h["train"], labelled_keys), cfg.data.chinese_max,
                       _draw(cfg, "chinese_hotel")))
    if cfg.data.rated_max_per_set:
        origins = data.labelled_origins(labelled_files)
        for spec in data.RATED_SETS:
            rated = data.rated_examples(shared, spec, origins)
            files.append(file_record(shared / spec.path, len(rated)))
            # Their dev and validation parts (by the same hash) are kept back for later use.
            pool = _unseen([e for e in rated if data.split_of(e.uid) == "train"], labelled_keys)
            train += balanced_sample(pool, cfg.data.rated_max_per_set * spec.share,
                                     _draw(cfg, spec.name))
    if cfg.data.weak_responses:  # CFPB narratives carry no label but the keyword responses
        train += _sample(c["train"], cfg.data.cfpb_max, _draw(cfg, "cfpb"))
    dev_limit = cfg.data.dev_max_per_set
    dev = {name: _sample(_unseen(examples, labelled_keys), dev_limit, _draw(cfg, f"dev:{name}"))
           for name, examples in (("airline", a["dev"]), ("restaurants", r["dev"]),
                                  ("chinese_hotel", h["dev"]))}
    validation = {name: _unseen(examples, labelled_keys) for name, examples in (
        ("airline", a["validation"]), ("restaurants_mams_val", restaurant_val),
        ("chinese_hotel", h["validation"]))}
    if cfg.data.validation_max_per_set is not None:  # a quick refit's figures, not the card's
        validation = {name: _sample(examples, cfg.data.validation_max_per_set,
                                    _draw(cfg, f"validation:{name}"))
                      for name, examples in validation.items()}
    if gold:
        gold_train = _unseen([e for e in gold if e.dataset == "gold_train"], held_keys)
        if cfg.data.gold_in_training:
            train += gold_train
        else:
            dev["gold_train"] = gold_train
        validation["gold_test"] = [e for e in gold if e.dataset == "gold_test"]
    if corpus:
        train += _unseen([e for e in corpus if e.dataset == "corpus_train"], held_keys)
        dev["corpus_dev"] = [e for e in corpus if e.dataset == "corpus_dev"]
        test = [e for e in corpus if e.dataset == "corpus_test"]
        validation["corpus_test"] = test
        for language in ("en", "zh"):
            validation[f"corpus_test_{language}"] = [e for e in test if e.language == language]
    if cfg.data.corrections is not None and cfg.data.corrections.is_file():
        corrections = data.correction_examples(cfg.data.corrections, ids)
        files.append(file_record(cfg.data.corrections, len(corrections)))
        held_out = [e for group in (*dev.values(), *validation.values()) for e in group]
        train, skipped = data.with_corrections(train, held_out, corrections)
        log.info("corrections: %d trained on, %d left out (their text is held out)",
                 len(corrections) - skipped, skipped)
    if cfg.data.weak_responses:
        train = data.with_weak_responses(train)
        for examples in dev.values():
            data.with_weak_responses(examples)
    _draw(cfg, "order").shuffle(train)
    return train, dev, validation, files


# -- tensors ----------------------------------------------------------------------------------
def targets(examples: Sequence[Example], ids: LabelIds) -> dict[str, torch.Tensor]:
    n = len(examples)
    sentiment = torch.full((n,), -100, dtype=torch.long)
    failure = torch.zeros((n, len(ids.failure_types)))
    failure_mask = torch.zeros((n, len(ids.failure_types)))
    response = torch.zeros((n, len(ids.responses)))
    response_mask = torch.zeros((n, len(ids.responses)))
    for i, e in enumerate(examples):
        if e.sentiment:
            sentiment[i] = ids.sentiments.index(e.sentiment)
        for label, value in e.failures.items():
            j = ids.failure_types.index(label)
            failure[i, j], failure_mask[i, j] = value, 1
        for label, value in e.responses.items():
            j = ids.responses.index(label)
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
    """The fp32 torch encoder with the shipped heads, to measure what int8 costs."""

    def __init__(self, model: MultiHeadModel, encoder: TextEncoder, labels: LabelSpace,
                 heads: Heads) -> None:
        self.model, self.encoder, self.labels, self.heads = model, encoder, labels, heads

        self.pooled: dict[str, np.ndarray] = {}  # each text encoded once across splits

    def probabilities(self, texts: Sequence[str], batch_size: int = 32
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        new = [t for t in dict.fromkeys(texts) if t not in self.pooled]
        ids = self.encoder.encode(new)
        self.model.eval()
        with torch.inference_mode():
            for batch in length_sorted_batches([len(x) for x in ids], batch_size):
                inputs = tensor_batch(self.encoder, [ids[i] for i in batch])
                hidden = self.model.encoder(**inputs).last_hidden_state
                vectors = self.model.pool(hidden, inputs["attention_mask"]).numpy()
                self.pooled.update(zip((new[i] for i in batch), vectors, strict=True))
        width = self.heads.weights["sentiment"].shape[1]
        pooled = (np.stack([self.pooled[t] for t in texts]) if texts
                  else np.zeros((0, width), np.float32))
        return self.heads.apply(pooled, texts)

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[Prediction]:
        return decode(self.labels, *self.probabilities(texts, batch_size))


# -- thresholds -------------------------------------------------------------------------------
GRID = tuple(round(x, 2) for x in np.arange(0.05, 0.96, 0.05))


def _counts(scores: np.ndarray, truth: np.ndarray, threshold: float) -> tuple[float, float, float]:
    predicted = scores >= threshold
    return (float((predicted & truth).sum()), float((predicted & ~truth).sum()),
            float((~predicted & truth).sum()))


def f_beta(tp: float, fp: float, fn: float, beta: float = 1.0) -> float:
    denominator = (1 + beta**2) * tp + beta**2 * fn + fp
    return (1 + beta**2) * tp / denominator if denominator else 0.0


def best_threshold(scores: np.ndarray, truth: np.ndarray, beta: float = 1.0,
                   grid: Sequence[float] = GRID, min_precision: float = 0.0) -> float:
    """The grid threshold with the best F-beta; with `min_precision`, the best F1 among the
    thresholds that keep that precision (the best F0.5 when none does)."""
    if min_precision > 0:
        kept = []
        for threshold in grid:
            tp, fp, _ = _counts(scores, truth, threshold)
            if tp > 0 and tp / (tp + fp) >= min_precision:
                kept.append(threshold)
        if kept:
            return best_threshold(scores, truth, 1.0, kept)
        return best_threshold(scores, truth, 0.5, grid)
    best, best_value = 0.5, -1.0
    for threshold in grid:
        value = f_beta(*_counts(scores, truth, threshold), beta=beta)
        if value > best_value + 1e-9:
            best, best_value = float(threshold), value
    return round(best, 2)


@dataclass
class Thresholds:
    failure: dict[str, float]
    response: dict[str, float]
    dev_f1: dict[str, float]       # each label's F1 on dev at its threshold
    dev_positives: dict[str, int]
    disabled: list[str]            # labels that did not learn: never predicted


class ScoresPredictor(Protocol):
    def probabilities(self, texts: Sequence[str], batch_size: int = 32
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def tune_thresholds(predictor: ScoresPredictor, dev: dict[str, list[Example]], ids: LabelIds,
                    disable_below_f1: float, min_response_precision: float = 0.8) -> Thresholds:
    """Per label, on the dev splits only: failure types maximise F1; responses, judged by
    precision, take the best F1 that keeps dev precision at `min_response_precision`. A label
    with fewer than 5 dev positives, or whose dev F1 stays below `disable_below_f1`, is disabled
    rather than firing at an arbitrary threshold on untrained scores."""
    examples = [e for ex in dev.values() for e in ex]
    _, f, r = predictor.probabilities([e.text for e in examples])
    result = Thresholds({}, {}, {}, {}, [])
    for kind, labels, scores in (("failure", ids.failure_types, f),
                                 ("response", ids.responses, r)):
        for j, label in enumerate(labels):
            rows = [i for i, e in enumerate(examples)
                    if label in (e.failures if kind == "failure" else e.responses)]
            truth = np.array([(examples[i].failures if kind == "failure"
                               else examples[i].responses)[label] == 1 for i in rows], dtype=bool)
            column = scores[rows, j]
            positives = int(truth.sum())
            threshold = DISABLED_THRESHOLD
            f1 = 0.0
            if positives >= 5:
                threshold = (best_threshold(column, truth) if kind == "failure" else
                             best_threshold(column, truth, min_precision=min_response_precision))
                f1 = f_beta(*_counts(column, truth, threshold))
            getattr(result, kind)[label] = threshold
            result.dev_f1[label], result.dev_positives[label] = round(f1, 4), positives
            if positives < 5 or f1 < disable_below_f1:
                result.disabled.append(label)
                getattr(result, kind)[label] = DISABLED_THRESHOLD
    return result


# -- training ---------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(base: BaseEncoder, cfg: TrainConfig) -> MultiHeadModel:
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(base.model_dir, add_pooling_layer=False)
    if cfg.layers is not None:  # a shallower model: the base's first layers
        if cfg.layers > len(encoder.encoder.layer):
            raise ValueError(f"layers: {cfg.layers} is more than the base's "
                             f"{len(encoder.encoder.layer)}")
        encoder.encoder.layer = encoder.encoder.layer[: cfg.layers]
        encoder.config.num_hidden_layers = cfg.layers
    if cfg.frozen_layers >= len(encoder.encoder.layer):
        raise ValueError(f"frozen_layers: {cfg.frozen_layers} leaves no layer to train")
    if cfg.freeze_embeddings or cfg.frozen_layers:
        encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    if cfg.frozen_layers:
        for parameter in encoder.embeddings.parameters():
            parameter.requires_grad_(False)
        for layer in encoder.encoder.layer[: cfg.frozen_layers]:
            for parameter in layer.parameters():
                parameter.requires_grad_(False)
    hidden = int(encoder.config.hidden_size)
    ids = cfg.label_ids()
    return MultiHeadModel(encoder, hidden, len(ids.sentiments), len(ids.failure_types),
                          len(ids.responses))


def uses_bf16(precision: str) -> bool:
    """Whether fine-tuning runs its products in bfloat16 (`TrainConfig.precision`)."""
    return precision == "bf16" or (precision == "auto" and has_bf16_units())


def autocast(bf16: bool) -> torch.autocast:
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def lower_states(model: MultiHeadModel, encoder: TextEncoder, ids: Sequence[Sequence[int]],
                 split: int, batch_size: int = 64, bf16: bool = False) -> list[torch.Tensor]:
    """Each text's token states after the frozen layers, computed once (no dropout)."""
    states: list[torch.Tensor] = [torch.empty(0)] * len(ids)
    model.eval()
    batches = length_sorted_batches([len(x) for x in ids], batch_size)
    with (torch.inference_mode(), autocast(bf16),
          progress_bar(len(batches), "frozen layers (once)") as advance):
        for batch in batches:
            inputs = tensor_batch(encoder, [ids[i] for i in batch])
            hidden = model.lower(inputs["input_ids"], inputs["attention_mask"], split).float()
            for row, index in enumerate(batch):
                states[index] = hidden[row, : len(ids[index])].clone()
            advance(1)
    return states


def padded_states(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in states)
    hidden = torch.zeros((len(states), width, states[0].shape[-1]))
    mask = torch.zeros((len(states), width), dtype=torch.long)
    for row, state in enumerate(states):
        hidden[row, : len(state)] = state
        mask[row, : len(state)] = 1
    return hidden, mask


def fit(model: MultiHeadModel, encoder: TextEncoder, train: list[Example],
        cfg: TrainConfig) -> list[dict[str, float]]:
    rng = random.Random(cfg.seed)
    ids = encoder.encode([e.text for e in train])
    lengths = [len(x) for x in ids]
    label_ids = cfg.label_ids()
    y = targets(train, label_ids)
    split = cfg.frozen_layers
    bf16 = uses_bf16(cfg.precision)
    log.info("fine-tuning arithmetic: %s", "bf16 autocast" if bf16 else "fp32")
    cached = lower_states(model, encoder, ids, split, bf16=bf16) if split else None
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
             {t: round(w, 2) for t, w in zip(label_ids.failure_types, failure_pos_weight.tolist(),
                                             strict=True)})
    history = []
    for epoch in range(cfg.epochs):
        model.train()
        started = time.perf_counter()
        losses = []
        batches = shuffled_batches(lengths, cfg.batch_size, rng)
        with progress_bar(len(batches), f"epoch {epoch + 1}/{cfg.epochs}") as advance:
            for batch in batches:
                with autocast(bf16):
                    if cached is not None:
                        hidden, mask = padded_states([cached[i] for i in batch])
                        s, f, r = model.upper(hidden, mask, split)
                    else:
                        s, f, r = model(**tensor_batch(encoder, [ids[i] for i in batch]))
                s, f, r = s.float(), f.float(), r.float()
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


def text_encoder(base: BaseEncoder, cfg: TrainConfig) -> TextEncoder:
    return TextEncoder(base.model_dir, cfg.max_length, cfg.truncation, cfg.head_tokens)


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
    encoder = text_encoder(base, cfg)
    seed_everything(cfg.seed)
    model = build_model(base, cfg)
    history = fit(model, encoder, train, cfg)
    train_seconds = time.perf_counter() - started
    model_root = cfg.models_dir / cfg.name
    out = model_root / next_version(model_root)
    (out / "checkpoint").mkdir(parents=True)
    torch.save(model.state_dict(), out / "checkpoint" / "model.pt")
    return finalize(out, cfg, model, base, encoder, datasets,
                    {"history": history, "train_seconds": round(train_seconds, 1),
                     "precision": "bf16" if uses_bf16(cfg.precision) else "fp32"},
                    command_started=started, previous=_default_metrics(cfg.models_dir))


def rebuild_from_checkpoint(model_dir: Path, config_path: Path | None = None) -> Path:
    """Redo export, thresholds, evaluation and card from `checkpoint/model.pt` (no training)."""
    cfg = TrainConfig.load(config_path)
    torch.set_num_threads(cfg.threads)
    previous = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
    datasets = build_datasets(cfg)
    base = resolve_base(cfg.base, cfg.cache_dir, lambda: _corpus(datasets))
    encoder = text_encoder(base, cfg)
    model = build_model(base, cfg)
    model.load_state_dict(torch.load(model_dir / "checkpoint" / "model.pt"))
    return finalize(model_dir, cfg, model, base, encoder, datasets,
                    {"history": previous["history"], "train_seconds": previous["train_seconds"]})


def _default_metrics(models_dir: Path) -> dict[str, Any] | None:
    """The current default model's metrics (its baseline figures may be reused), if any."""
    try:
        path = default_model_path(models_dir) / "metrics.json"
    except FileNotFoundError:
        return None
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _base_comparison(models_dir: Path) -> dict[str, Any] | None:
    """What `bench/compare_bases.py` recorded next to the models, for the card."""
    path = models_dir / BASE_COMPARISON_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def feature_cache(cfg: TrainConfig, model_dir: Path, labels: LabelSpace) -> FeatureCache:
    """The cache of the pooled features of this model's encoder file and tokenisation."""
    key = (f"{file_digest(model_dir / ONNX_FILE)}-{labels.max_length}-{labels.truncation}"
           f"-{labels.head_tokens}")
    return FeatureCache(cfg.feature_cache_dir, key)


def finalize(out: Path, cfg: TrainConfig, model: MultiHeadModel, base: BaseEncoder,
             encoder: TextEncoder, datasets: Datasets, training: dict[str, Any], *,
             command_started: float | None = None,
             previous: dict[str, Any] | None = None) -> Path:
    """Export int8 ONNX and heads, tune thresholds on dev, evaluate model (int8 and fp32) and
    baseline, write card and metrics. Every text's int8 features go to the feature cache."""
    started = time.perf_counter()
    checkpoint = out / "checkpoint"
    ids = cfg.label_ids()
    labels = LabelSpace(cfg.name, out.name, ids.sentiments, ids.failure_types, ids.responses,
                        {}, {}, cfg.max_length, cfg.truncation, cfg.head_tokens)
    model.eval()
    sample = tensor_batch(encoder, encoder.encode(["a short sample", "一个例子 in two languages"]))
    export_onnx(model, sample, checkpoint / "model.onnx")
    quantize_onnx(checkpoint / "model.onnx", out / ONNX_FILE)
    heads = heads_of(model)
    heads.save(out / HEADS_FILE)
    for name in TOKENIZER_FILES:
        shutil.copy2(base.model_dir / name, out / name)
    labels.save(out / LABELS_FILE)
    shutil.copy2(cfg.taxonomy, out / "taxonomy.yaml")
    classifier = FeedbackClassifier.load(out, cfg.threads)
    cache = feature_cache(cfg, out, labels)
    if cfg.refit_heads:  # its texts' features stay cached, so `--heads-only` finds them
        heads = refit(heads, datasets[0], lambda texts: cache.features(texts, classifier.pooled),
                      cfg)
        heads.save(out / HEADS_FILE)
        classifier.heads = heads
    int8 = CachedPredictor(classifier, heads, labels, cache)
    fp32 = TorchPredictor(model, encoder, labels, heads)
    return write_model(out, cfg, int8, datasets, training, started, {"model_fp32": fp32},
                       base_description(base), previous,
                       command_started=command_started)


def refit_rows(train: Sequence[Example], kinds: set[str]) -> list[int]:
    """The training rows a refit of `kinds` learns from: those with a label of one of them.
    The Chinese hotel reviews carry sentiment only, so a failure and response refit never
    encodes them (24 % of the training tokens)."""
    return [i for i, e in enumerate(train)
            if ("sentiment" in kinds and e.sentiment) or ("failure" in kinds and e.failures)
            or ("response" in kinds and e.responses)]


def refit(heads: Heads, train: list[Example], features: Callable[[list[str]], np.ndarray],
          cfg: TrainConfig) -> Heads:
    """`heads` with the kinds in `cfg.refit_heads` refit as logistic regressions (the response
    heads on pooled features and TF-IDF n-grams when `cfg.lexical_responses`). `features`
    encodes only the rows those kinds learn from; the n-gram vocabulary still reads every
    training text."""
    ids = cfg.label_ids()
    kinds: set[str] = set(cfg.refit_heads)
    rows = refit_rows(train, kinds)
    y = targets([train[i] for i in rows], ids)
    lexical = None
    if cfg.lexical_responses and "response" in kinds:
        vocabulary, matrix = LexicalFeatures.fit_transform([e.text for e in train])
        lexical = (vocabulary, matrix[rows])
    fitted = fit_heads(features([train[i].text for i in rows]), y["sentiment"].numpy(),
                       y["failure"].numpy(), y["failure_mask"].numpy(), y["response"].numpy(),
                       y["response_mask"].numpy(), len(ids.sentiments), cfg.seed, cfg.heads_c,
                       response_c=cfg.response_heads_c, lexical=lexical,
                       fit_sentiment="sentiment" in kinds)
    return heads.with_kinds(fitted, kinds)


def base_description(base: BaseEncoder) -> dict[str, str]:
    return {"key": base.key, "package": base.package, "version": base.package_version,
            "description": base.description}


def write_model(out: Path, cfg: TrainConfig, int8: CachedPredictor, datasets: Datasets,
                training: dict[str, Any], started: float,
                others: dict[str, Any], base: dict[str, str],
                previous: dict[str, Any] | None = None, *,
                command_started: float | None = None) -> Path:
    """Thresholds tuned on dev (int8 features), evaluation, labels, metrics, card, DEFAULT.

    The TF-IDF baseline's figures are taken from `previous` (another model's metrics) when its
    `baseline_key` matches (same data files, labels, seed and baseline code), since refitting
    it would give the same numbers."""
    train, dev, validation, files = datasets
    labels = int8.labels
    ids = cfg.label_ids()
    tuned = tune_thresholds(int8, dev, ids, cfg.disable_below_f1)
    labels.failure_thresholds, labels.response_thresholds = tuned.failure, tuned.response
    labels.disabled = tuned.disabled
    labels.save(out / LABELS_FILE)
    for predictor in others.values():
        predictor.labels = labels
    key = baseline_key(files, ids, cfg.seed, train)
    same_data = (previous is not None and previous.get("baseline_key") == key
                 and all("baseline_tfidf_lr" in previous["validation"].get(n, {})
                         for n in validation))
    if same_data:
        log.info("baseline: figures reused from %s/%s (same data, labels, seed and code)",
                 previous["name"], previous["version"])  # type: ignore[index]
    baseline = (TfidfBaseline(cfg.seed, ids).fit(train)
                if cfg.compare_baseline and not same_data else None)
    evaluation: dict[str, Any] = {}
    for name, examples in validation.items():
        frame = data.to_eval_frame(examples, ids)
        evaluation[name] = {"n": len(examples), "model_int8": evaluate_frame(int8, frame, ids)}
        for other, predictor in others.items():
            evaluation[name][other] = evaluate_frame(predictor, frame, ids)
        if baseline is not None:
            evaluation[name]["baseline_tfidf_lr"] = evaluate_frame(baseline, frame, ids)
        elif same_data:
            evaluation[name]["baseline_tfidf_lr"] = (
                previous["validation"][name]["baseline_tfidf_lr"])  # type: ignore[index]
        log.info("%s: int8 %s | baseline %s", name, headline(evaluation[name]["model_int8"]),
                 headline(evaluation[name]["baseline_tfidf_lr"])
                 if "baseline_tfidf_lr" in evaluation[name] else "not compared")
    speed = measure_speed(int8.classifier, [e.text for e in validation["airline"]])
    good = all(  # with no baseline compared, nothing to fall short of
        (evaluation[n]["model_int8"]["sentiment"]["accuracy"] or 0)
        >= (evaluation[n]["baseline_tfidf_lr"]["sentiment"]["accuracy"] or 0)
        for n in ("airline", "chinese_hotel")
        if n in evaluation and "baseline_tfidf_lr" in evaluation[n])
    metrics = {
        "name": cfg.name, "version": out.name, "created": datetime.now(UTC).isoformat(),
        "base": base,
        "config": json.loads(cfg.model_dump_json()),
        "data_files": files,
        "baseline_key": key,
        "training_examples": {ds: sum(e.dataset == ds for e in train)
                              for ds in sorted({e.dataset for e in train})},
        **training,
        "thresholds": {"failure": labels.failure_thresholds,
                       "response": labels.response_thresholds,
                       "dev_f1": tuned.dev_f1, "dev_positives": tuned.dev_positives},
        "disabled": tuned.disabled,
        "validation": evaluation, "speed_int8_airline_validation": speed,
        "machine": machine_facts(),
        "good": good,
        "base_comparison": _base_comparison(cfg.models_dir),
    }
    if command_started is not None:  # the whole command, as a user waits for it
        metrics["command_seconds"] = round(time.perf_counter() - command_started, 1)
    card.write(out, metrics)
    if good:
        (cfg.models_dir / "DEFAULT").write_text(f"{cfg.name}/{out.name}\n", encoding="utf-8")
    log.info("model written to %s (good: %s); export and evaluation took %.0f s", out, good,
             time.perf_counter() - started)
    return out


def refit_heads(config_path: Path | None = None, model_dir: Path | None = None,
                cfg: TrainConfig | None = None) -> Path:
    """`mining train --heads-only`: new heads and thresholds on the current encoder's cached
    features; the new model shares the encoder file and tokeniser, so nothing is fine-tuned
    and no text the cache has seen is encoded again."""
    cfg = cfg or TrainConfig.load(config_path)
    started = time.perf_counter()
    source = model_dir or default_model_path(cfg.models_dir)
    classifier = FeedbackClassifier.load(source, cfg.threads)
    if classifier.heads is None:
        raise ValueError(f"{classifier.version} keeps its heads inside the graph; "
                         "--heads-only needs a model trained since 2026-12 (run mining train)")
    previous = json.loads((source / "metrics.json").read_text(encoding="utf-8"))
    datasets = build_datasets(cfg)
    train = datasets[0]
    labels = LabelSpace.load(source / LABELS_FILE)
    ids = cfg.label_ids()
    # Renamed types (aliases) keep their head: the refit model carries the current ids.
    if labels.responses != ids.responses or labels.sentiments != ids.sentiments:
        raise ValueError(f"{classifier.version} has responses {labels.responses} and "
                         f"sentiments {labels.sentiments}; the taxonomy ({cfg.taxonomy}) has "
                         f"{ids.responses} and {ids.sentiments}: retrain the encoder")
    kinds = cfg.refit_heads or ["sentiment", "failure", "response"]
    # Renamed types (aliases) keep their head row; merged or new built-in types need the
    # failure head refit, which learns them from the labelled data in the taxonomy's ids.
    current = [ids.aliases.get(t, t) for t in labels.failure_types]
    source_heads = classifier.heads
    if current != ids.failure_types and "failure" not in kinds:
        if sorted(current) != sorted(ids.failure_types):
            raise ValueError(f"{classifier.version} predicts {labels.failure_types}; the "
                             f"taxonomy's built-in types are {ids.failure_types}: merged or new "
                             "types need the failure head refit (add `failure` to refit_heads)")
        order = [current.index(t) for t in ids.failure_types]
        source_heads = Heads(dict(source_heads.weights), dict(source_heads.biases),
                             source_heads.lexical, source_heads.response_lexical)
        source_heads.weights["failure"] = source_heads.weights["failure"][order]
        source_heads.biases["failure"] = source_heads.biases["failure"][order]
    labels.failure_types = list(ids.failure_types)
    labels.failure_thresholds, labels.disabled = {}, []  # tuned again on dev below
    cache = feature_cache(cfg, source, labels)
    heads = refit(source_heads, train, lambda texts: cache.features(texts, classifier.pooled),
                  cfg.model_copy(update={"refit_heads": kinds}))
    model_root = cfg.models_dir / cfg.name
    out = model_root / next_version(model_root)
    out.mkdir(parents=True)
    for name in (ONNX_FILE, *TOKENIZER_FILES):
        shutil.copy2(source / name, out / name)
    shutil.copy2(cfg.taxonomy, out / "taxonomy.yaml")
    heads.save(out / HEADS_FILE)
    labels.name, labels.version = cfg.name, out.name
    labels.save(out / LABELS_FILE)
    fit_seconds = round(time.perf_counter() - started, 1)
    training = {"history": previous.get("history", []),
                "train_seconds": previous.get("train_seconds"),
                "heads_only": {"encoder_from": f"{previous['name']}/{previous['version']}",
                               "seconds_to_fit": fit_seconds,
                               "encoder_command_seconds": previous.get(
                                   "command_seconds",
                                   previous.get("heads_only", {}).get("encoder_command_seconds"))}}
    int8 = CachedPredictor(FeedbackClassifier.load(out, cfg.threads), heads, labels,
                           feature_cache(cfg, out, labels))
    return write_model(out, cfg, int8, datasets, training, started, {}, previous["base"],
                       previous, command_started=started)


