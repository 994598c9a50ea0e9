"""The fine-tuned feedback classifier: one encoder, three heads, int8 ONNX at inference.

Training uses `MultiHeadModel` (torch). The shipped artefact is the same network exported to
ONNX and quantised to int8 (weights and arithmetic), run with ONNX Runtime: smaller (fits in git)
and faster on CPU.
`FeedbackClassifier` owns predict / save / load.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

log = logging.getLogger("mining")

ONNX_FILE = "model.int8.onnx"
LABELS_FILE = "labels.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "char_map.json")


class MultiHeadModel(nn.Module):
    """Encoder + mean pooling + sentiment (softmax), failure and response (sigmoid) heads."""

    def __init__(self, encoder: nn.Module, hidden: int, n_sentiment: int, n_failure: int,
                 n_response: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.sentiment = nn.Linear(hidden, n_sentiment)
        self.failure = nn.Linear(hidden, n_failure)
        self.response = nn.Linear(hidden, n_response)

    def forward(self, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = self.dropout((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0))
        return self.sentiment(pooled), self.failure(pooled), self.response(pooled)


class ProbabilityModel(nn.Module):
    """What is exported: probabilities instead of logits."""

    def __init__(self, model: MultiHeadModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        sentiment, failure, response = self.model(input_ids, attention_mask)
        return sentiment.softmax(-1), failure.sigmoid(), response.sigmoid()


@dataclass
class Prediction:
    sentiment: str
    sentiment_score: float
    sentiment_scores: dict[str, float]
    failure_types: list[str]
    failure_scores: dict[str, float]
    responses: list[str]
    response_scores: dict[str, float]


@dataclass
class LabelSpace:
    """Label ids, decision thresholds and the tokenisation settings saved with a model."""

    name: str
    version: str
    sentiments: list[str]
    failure_types: list[str]
    responses: list[str]
    failure_thresholds: dict[str, float]
    response_thresholds: dict[str, float]
    max_length: int = 128

    @classmethod
    def load(cls, path: Path) -> LabelSpace:
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2), encoding="utf-8")


class TextEncoder:
    """Tokeniser with the base model's character map; truncates, never fails on odd text."""

    def __init__(self, model_dir: Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        raw = json.loads((model_dir / "char_map.json").read_text(encoding="utf-8"))
        self.char_map = {int(k): v for k, v in raw.items()}
        config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
        self.pad_id = self.tokenizer.token_to_id(config["pad_token"])

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        prepared = [(t or "").translate(self.char_map) for t in texts]
        return [e.ids for e in self.tokenizer.encode_batch(prepared)]

    def pad(self, ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        width = max(len(x) for x in ids)
        input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, seq in enumerate(ids):
            input_ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        return input_ids, mask


def length_sorted_batches(lengths: Sequence[int], batch_size: int,
                          max_tokens: int = 8192) -> list[list[int]]:
    """Indices grouped by similar length (less padding); a batch holds ≤ max_tokens tokens."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        if current and (len(current) >= batch_size
                        or lengths[index] * (len(current) + 1) > max_tokens):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


class FeedbackClassifier:
    """Inference with the int8 ONNX model. `predict` keeps the input order."""

    def __init__(self, model_dir: Path, threads: int = 2) -> None:
        import onnxruntime as ort

        self.model_dir = Path(model_dir)
        self.labels = LabelSpace.load(self.model_dir / LABELS_FILE)
        self.text_encoder = TextEncoder(self.model_dir, self.labels.max_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.model_dir / ONNX_FILE), options,
                                            providers=["CPUExecutionProvider"])

    @property
    def version(self) -> str:
        return f"{self.labels.name}/{self.labels.version}"

    @classmethod
    def load(cls, model_dir: Path | str, threads: int = 2) -> FeedbackClassifier:
        model_dir = Path(model_dir)
        missing = [f for f in (ONNX_FILE, LABELS_FILE, *TOKENIZER_FILES)
                   if not (model_dir / f).is_file()]
        if missing:
            raise FileNotFoundError(f"{model_dir} is not a classifier directory; missing "
                                    f"{', '.join(missing)}")
        return cls(model_dir, threads)

    def save(self, target: Path | str) -> Path:
        """Copy the artefact (ONNX, tokenizer, labels, card) to another directory."""
        target = Path(target)
        target.mkdir(parents=True, exist_ok=True)
        for path in self.model_dir.iterdir():
            if path.is_file():
                shutil.copy2(path, target / path.name)
        return target

    def probabilities(self, texts: Sequence[str], batch_size: int = 32
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sentiment, failure and response probabilities, one row per text, input order."""
        n = len(texts)
        labels = self.labels
        sentiment = np.zeros((n, len(labels.sentiments)), dtype=np.float32)
        failure = np.zeros((n, len(labels.failure_types)), dtype=np.float32)
        response = np.zeros((n, len(labels.responses)), dtype=np.float32)
        if n == 0:
            return sentiment, failure, response
        ids = self.text_encoder.encode(texts)
        for batch in length_sorted_batches([len(x) for x in ids], batch_size):
            input_ids, mask = self.text_encoder.pad([ids[i] for i in batch])
            s, f, r = self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})
            sentiment[batch], failure[batch], response[batch] = s, f, r
        return sentiment, failure, response

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[Prediction]:
        unique = list(dict.fromkeys(texts))  # never run the same text twice
        s, f, r = self.probabilities(unique, batch_size)
        labels = self.labels
        by_text: dict[str, Prediction] = {}
        for row, text in enumerate(unique):
            best = int(s[row].argmax())
            fscores = {t: float(f[row, j]) for j, t in enumerate(labels.failure_types)}
            rscores = {t: float(r[row, j]) for j, t in enumerate(labels.responses)}
            by_text[text] = Prediction(
                sentiment=labels.sentiments[best], sentiment_score=float(s[row, best]),
                sentiment_scores={t: float(s[row, j]) for j, t in enumerate(labels.sentiments)},
                failure_types=[t for t, p in fscores.items()
                               if p >= labels.failure_thresholds.get(t, 0.5)],
                failure_scores=fscores,
                responses=[t for t, p in rscores.items()
                           if p >= labels.response_thresholds.get(t, 0.5)],
                response_scores=rscores,
            )
        return [by_text[text] for text in texts]


def is_model_dir(path: Path) -> bool:
    return (path / ONNX_FILE).is_file() and (path / LABELS_FILE).is_file()


def default_model_path(models_dir: Path) -> Path:
    """The newest good model: `models/DEFAULT` names it, else the newest model directory."""
    pointer = models_dir / "DEFAULT"
    if pointer.is_file():
        chosen = models_dir / pointer.read_text(encoding="utf-8").strip()
        if is_model_dir(chosen):
            return chosen
        raise FileNotFoundError(f"{pointer} names {chosen}, which is not a model directory")
    candidates = sorted((p for p in models_dir.glob("*/*") if is_model_dir(p)),
                        key=lambda p: p.name)
    if not candidates:
        raise FileNotFoundError(f"no trained model under {models_dir}: run `mining train`")
    return candidates[-1]


def load_classifier(model_path: Path | None, models_dir: Path,
                    threads: int = 2) -> FeedbackClassifier:
    path = model_path or default_model_path(models_dir)
    log.info("loading classifier from %s", path)
    return FeedbackClassifier.load(path, threads)


def export_onnx(model: MultiHeadModel, sample: dict[str, Any], path: Path) -> None:
    """Export with dynamic batch and sequence axes (TorchScript exporter, opset 17)."""
    wrapper = ProbabilityModel(model).eval()
    torch.onnx.export(
        wrapper, (sample["input_ids"], sample["attention_mask"]), str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["sentiment", "failure", "response"],
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                      "attention_mask": {0: "batch", 1: "sequence"},
                      "sentiment": {0: "batch"}, "failure": {0: "batch"},
                      "response": {0: "batch"}},
        opset_version=17, dynamo=False,
    )


def quantize_onnx(source: Path, target: Path) -> None:
    """Int8 matrices with int8 arithmetic, and scores that do not depend on the batch.

    Each weight matrix is stored in int8 with one scale per output column. Each activation row
    (one token) is quantised with its own scale, from its own largest value, just before the
    product; the product runs in integers (`MatMulIntegerToFloat`, VNNI kernels on x86). Because
    no scale spans several rows, a text's scores are the same whatever else is in its batch, so a
    resumed or distributed run stores the same numbers as one uninterrupted run. (ONNX Runtime's
    dynamic quantisation shares one scale across the whole batch; calibrated static scales cost
    2-7 points of accuracy.) The word-embedding table is kept in fp16.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    weights = {i.name: i for i in graph.initializer}
    constants: dict[str, np.ndarray] = {
        "q_inv127": np.array(1 / 127, np.float32), "q_eps": np.array(1e-10, np.float32),
        "q_zero_point": np.array(128, np.uint8), "q_one": np.array(1.0, np.float32),
        "q_last_axis": np.array([-1], np.int64), "q_first": np.array([0], np.int64),
    }

    def shape_constant(name: str, values: list[int]) -> str:
        constants.setdefault(name, np.array(values, np.int64))
        return name

    nodes: list[onnx.NodeProto] = []
    quantised_rows: dict[str, str] = {}  # activation -> prefix of its per-row quantisation
    replaced: set[str] = set()
    for node in graph.node:
        weight = weights.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is None or len(weight.dims) != 2 or weight.dims[1] < 64:  # heads stay float
            nodes.append(node)
            continue
        matrix = numpy_helper.to_array(weight).astype(np.float32)
        k, n = matrix.shape
        column_scale = (np.maximum(np.abs(matrix).max(0), 1e-12) / 127).astype(np.float32)
        graph.initializer.extend([
            numpy_helper.from_array(
                np.clip(np.round(matrix / column_scale), -127, 127).astype(np.int8),
                weight.name + "_int8"),
            numpy_helper.from_array(column_scale, weight.name + "_scale")])
        replaced.add(weight.name)
        x = node.input[0]
        if x not in quantised_rows:  # Q, K and V share one input: quantise it once
            p = quantised_rows[x] = f"q{len(quantised_rows)}"
            nodes += [
                helper.make_node("Shape", [x], [p + "_shape"]),
                helper.make_node("Slice", [p + "_shape", "q_first", "q_last_axis"],
                                 [p + "_leading"]),
                helper.make_node("Reshape", [x, shape_constant(f"q_rows_of_{k}", [-1, k])],
                                 [p + "_2d"]),
                helper.make_node("Abs", [p + "_2d"], [p + "_abs"]),
                helper.make_node("ReduceMax", [p + "_abs"], [p + "_max"], axes=[1], keepdims=0),
                helper.make_node("Mul", [p + "_max", "q_inv127"], [p + "_raw_scale"]),
                helper.make_node("Max", [p + "_raw_scale", "q_eps"], [p + "_scale"]),
                # zero point 128 per row (uint8 activations use the fastest kernels)
                helper.make_node("Shape", [p + "_scale"], [p + "_rows"]),
                helper.make_node("ConstantOfShape", [p + "_rows"], [p + "_zp"],
                                 value=numpy_helper.from_array(np.array([128], np.uint8))),
                helper.make_node("QuantizeLinear", [p + "_2d", p + "_scale", p + "_zp"],
                                 [p + "_uint8"], axis=0),
                helper.make_node("Unsqueeze", [p + "_scale", "q_last_axis"], [p + "_column"]),
            ]
        p = quantised_rows[x]
        out = node.output[0]
        nodes += [
            helper.make_node("MatMulIntegerToFloat",
                             [p + "_uint8", weight.name + "_int8", "q_one",
                              weight.name + "_scale", "q_zero_point"],
                             [out + "_column_scaled"], domain="com.microsoft"),
            helper.make_node("Mul", [out + "_column_scaled", p + "_column"], [out + "_2d"]),
            helper.make_node("Concat", [p + "_leading", shape_constant(f"q_width_{n}", [n])],
                             [out + "_shape"], axis=0),
            helper.make_node("Reshape", [out + "_2d", out + "_shape"], [out]),
        ]
    kept = [i for i in graph.initializer if i.name not in replaced]
    kept += [numpy_helper.from_array(v, name) for name, v in constants.items()]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    table = next(i for i in graph.initializer if i.name.endswith("word_embeddings.weight"))
    table.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(table).astype(np.float16),
                                           table.name))
    for index, node in enumerate(nodes):
        if node.op_type == "Gather" and node.input[0] == table.name:
            gathered = node.output[0]
            node.output[0] = gathered + "_fp16"
            nodes.insert(index + 1, helper.make_node(
                "Cast", [node.output[0]], [gathered], to=TensorProto.FLOAT,
                name=node.name + "_to_float"))
            break
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
