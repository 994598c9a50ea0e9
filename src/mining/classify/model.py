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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mining.classify.heads import HEADS_FILE, Heads, from_linear

log = logging.getLogger("mining")

ONNX_FILE = "model.int8.onnx"
LABELS_FILE = "labels.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "char_map.json")


class MultiHeadModel(nn.Module):
    """Encoder + mean pooling + sentiment (softmax), failure and response (sigmoid) heads.

    `lower` and `upper` split the encoder at a layer: training with frozen lower layers runs
    `lower` once per text and caches its output, then trains `upper` only.
    """

    def __init__(self, encoder: nn.Module, hidden: int, n_sentiment: int, n_failure: int,
                 n_response: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder: Any = encoder  # a transformers encoder (XLMRobertaModel or BertModel)
        self.dropout = nn.Dropout(dropout)
        self.sentiment = nn.Linear(hidden, n_sentiment)
        self.failure = nn.Linear(hidden, n_failure)
        self.response = nn.Linear(hidden, n_response)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def heads(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pooled = self.dropout(pooled)
        return self.sentiment(pooled), self.failure(pooled), self.response(pooled)

    def forward(self, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.heads(self.pool(hidden, attention_mask))

    def _layer_mask(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        return self.encoder._create_attention_masks(attention_mask, None, hidden, None, None)[0]

    def lower(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              split: int) -> torch.Tensor:
        """Token states after the embeddings and the first `split` layers."""
        hidden = self.encoder.embeddings(input_ids=input_ids)
        mask = self._layer_mask(hidden, attention_mask)
        for layer in self.encoder.encoder.layer[:split]:
            hidden = layer(hidden, mask)
        return hidden

    def upper(self, hidden: torch.Tensor, attention_mask: torch.Tensor,
              split: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The layers from `split` on, pooling and heads, from `lower`'s output."""
        mask = self._layer_mask(hidden, attention_mask)
        for layer in self.encoder.encoder.layer[split:]:
            hidden = layer(hidden, mask)
        return self.heads(self.pool(hidden, attention_mask))


class PooledModel(nn.Module):
    """What is exported: the encoder and pooling. The heads run in NumPy (`heads.py`), so they
    can be refit on cached features without touching the graph."""

    def __init__(self, model: MultiHeadModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return self.model.pool(hidden.last_hidden_state, attention_mask)


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
    # "head" keeps the first max_length tokens; "head_tail" keeps the first `head_tokens` and
    # the last ones, where long reviews put their verdict ("never again", "不会再来").
    truncation: str = "head"
    head_tokens: int = 64
    # Labels whose head did not learn (F1 below the bar on held-out dev text): never predicted
    # and left out of the scores, rather than printing a made-up number.
    disabled: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> LabelSpace:
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2), encoding="utf-8")


class TextEncoder:
    """Tokeniser with the base model's character map; truncates, never fails on odd text."""

    def __init__(self, model_dir: Path, max_length: int, truncation: str = "head",
                 head_tokens: int = 64) -> None:
        from tokenizers import Tokenizer

        if truncation not in ("head", "head_tail"):
            raise ValueError(f"truncation must be 'head' or 'head_tail', not {truncation!r}")
        if not 0 < head_tokens < max_length:
            raise ValueError(f"head_tokens must be between 1 and {max_length - 1}")
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.max_length, self.truncation, self.head_tokens = max_length, truncation, head_tokens
        if truncation == "head":
            self.tokenizer.enable_truncation(max_length)
        else:
            self.tokenizer.no_truncation()
        raw = json.loads((model_dir / "char_map.json").read_text(encoding="utf-8"))
        self.char_map = {int(k): v for k, v in raw.items()}
        config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
        self.pad_id = self.tokenizer.token_to_id(config["pad_token"])

    def _prepare(self, text: str) -> str:
        text = (text or "").translate(self.char_map)
        # Head and tail need only the ends of a very long text: never tokenise megabytes.
        keep = self.max_length * 8
        if self.truncation == "head_tail" and len(text) > 2 * keep:
            text = text[:keep] + " " + text[-keep:]
        return text

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        encoded = [e.ids for e in self.tokenizer.encode_batch([self._prepare(t) for t in texts])]
        if self.truncation == "head":
            return encoded
        limit, head = self.max_length, self.head_tokens
        return [ids if len(ids) <= limit else ids[:head] + ids[len(ids) - (limit - head):]
                for ids in encoded]

    @classmethod
    def for_labels(cls, model_dir: Path, labels: LabelSpace) -> TextEncoder:
        return cls(model_dir, labels.max_length, labels.truncation, labels.head_tokens)

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
        self.text_encoder = TextEncoder.for_labels(self.model_dir, self.labels)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.model_dir / ONNX_FILE), options,
                                            providers=["CPUExecutionProvider"])
        # Models before 2026-12 carry their heads inside the graph and have no heads file.
        heads = self.model_dir / HEADS_FILE
        self.heads = Heads.load(heads) if heads.is_file() else None

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

    def outputs(self, texts: Sequence[str], batch_size: int = 32) -> dict[str, np.ndarray]:
        """Sentiment, failure and response probabilities, and the pooled features when the
        model has a heads file; one row per text, input order."""
        names = [o.name for o in self.session.get_outputs()]
        widths = {"sentiment": len(self.labels.sentiments),
                  "failure": len(self.labels.failure_types),
                  "response": len(self.labels.responses)}
        out = {name: np.zeros((len(texts), widths.get(name) or int(o.shape[-1])),
                              dtype=np.float32)
               for name, o in zip(names, self.session.get_outputs(), strict=True)}
        if texts:
            ids = self.text_encoder.encode(texts)
            for batch in length_sorted_batches([len(x) for x in ids], batch_size):
                input_ids, mask = self.text_encoder.pad([ids[i] for i in batch])
                results = self.session.run(names, {"input_ids": input_ids,
                                                   "attention_mask": mask})
                for name, value in zip(names, results, strict=True):
                    out[name][batch] = value
        if self.heads is not None:
            out["sentiment"], out["failure"], out["response"] = self.heads.apply(out["pooled"])
        return out

    def pooled(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """The encoder's pooled features (what the heads and the feature cache use)."""
        if self.heads is None:
            raise ValueError(f"{self.version} has its heads inside the graph and exports no "
                             "features: retrain it with `mining train`")
        return self.outputs(texts, batch_size)["pooled"]

    def probabilities(self, texts: Sequence[str], batch_size: int = 32
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sentiment, failure and response probabilities, one row per text, input order."""
        out = self.outputs(texts, batch_size)
        return out["sentiment"], out["failure"], out["response"]

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[Prediction]:
        unique = list(dict.fromkeys(texts))  # never run the same text twice
        s, f, r = self.probabilities(unique, batch_size)
        by_text = dict(zip(unique, decode(self.labels, s, f, r), strict=True))
        return [by_text[text] for text in texts]


def decode(labels: LabelSpace, s: np.ndarray, f: np.ndarray, r: np.ndarray) -> list[Prediction]:
    """Probabilities to predictions: thresholds applied, disabled labels left out."""
    off = set(labels.disabled)
    failure_columns = [(j, t) for j, t in enumerate(labels.failure_types) if t not in off]
    response_columns = [(j, t) for j, t in enumerate(labels.responses) if t not in off]
    out = []
    for row in range(len(s)):
        best = int(s[row].argmax())
        fscores = {t: float(f[row, j]) for j, t in failure_columns}
        rscores = {t: float(r[row, j]) for j, t in response_columns}
        out.append(Prediction(
            sentiment=labels.sentiments[best], sentiment_score=float(s[row, best]),
            sentiment_scores={t: float(s[row, j]) for j, t in enumerate(labels.sentiments)},
            failure_types=[t for t, p in fscores.items()
                           if p >= labels.failure_thresholds.get(t, 0.5)],
            failure_scores=fscores,
            responses=[t for t, p in rscores.items()
                       if p >= labels.response_thresholds.get(t, 0.5)],
            response_scores=rscores,
        ))
    return out


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
    """Export encoder + pooling with dynamic batch and sequence axes (TorchScript exporter,
    opset 17); `heads_of` gives the heads that go beside it."""
    wrapper = PooledModel(model).eval()
    torch.onnx.export(
        wrapper, (sample["input_ids"], sample["attention_mask"]), str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["pooled"],
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                      "attention_mask": {0: "batch", 1: "sequence"}, "pooled": {0: "batch"}},
        opset_version=17, dynamo=False,
    )


def heads_of(model: MultiHeadModel) -> Heads:
    """The trained network's heads, for `heads.npz`."""
    layers = (model.sentiment, model.failure, model.response)
    return from_linear([(layer.weight.detach().numpy(), layer.bias.detach().numpy())
                        for layer in layers])


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
