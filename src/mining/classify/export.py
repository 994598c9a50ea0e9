"""From the trained torch network to the shipped artefact: int8 ONNX encoder and NumPy heads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from mining.classify.heads import Heads, from_linear
from mining.classify.network import MultiHeadModel, PooledModel


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


# Weights use 7 bits (±63). On CPUs without VNNI (AVX2 only), ONNX Runtime multiplies uint8
# activations by int8 weights with vpmaddubsw, which adds two products in int16 and saturates
# when they pass 32767: 255 * 127 * 2 does, 255 * 63 * 2 does not. Same reason as ONNX
# Runtime's own `reduce_range`.
WEIGHT_MAX = 63


def quantize_onnx(source: Path, target: Path) -> None:
    """Int8 matrices with int8 arithmetic, and scores that do not depend on the batch.

    Each weight matrix is stored in int8 (7 bits used, see WEIGHT_MAX) with one scale per output
    column. Each activation row
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
        column_scale = (np.maximum(np.abs(matrix).max(0), 1e-12) / WEIGHT_MAX
                        ).astype(np.float32)
        graph.initializer.extend([
            numpy_helper.from_array(
                np.clip(np.round(matrix / column_scale), -WEIGHT_MAX, WEIGHT_MAX
                        ).astype(np.int8),
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
