"""What an ONNX classifier says about itself, read the way the service reads it.

The service (src/models/modelLoader.ts, onnxZipMap.ts) turns a ZipMap that feeds
the manifest's probability output into an Identity node, so the same output name
gives the [N, classes] tensor ZipMap was fed; it takes the class order from that
ZipMap's classlabels_int64s / classlabels_strings, or, for a graph without ZipMap,
from the classifier node's. This module does the same on the Python side, so that
`package` and `verify` accept exactly the models the service accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import onnx

ElementType = Literal["float32", "float64"]
ELEMENT_TYPES: dict[int, ElementType] = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.DOUBLE: "float64",
}
TENSOR_TYPE_NAMES = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.DOUBLE: "float64",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.STRING: "string",
}
# ai.onnx.ml classifiers name their classes in classlabels_strings or in integer labels:
# classlabels_int64s (ZipMap, TreeEnsembleClassifier) or classlabels_ints (LinearClassifier,
# SVMClassifier).
CLASSIFIER_OPS = frozenset({"TreeEnsembleClassifier", "LinearClassifier", "SVMClassifier"})
INTEGER_LABELS = ("classlabels_int64s", "classlabels_ints")

ClassLabels = list[int] | list[str]


class OnnxModelError(ValueError):
    """The bytes are not an ONNX classifier the service can serve; says why."""


@dataclass(frozen=True)
class TensorFacts:
    name: str
    kind: str  # "tensor", "sequence", "map", ...
    element_type: str | None  # float32, float64, int64, string, or the ONNX number
    shape: tuple[int | str | None, ...] | None


@dataclass(frozen=True)
class ClassSource:
    """Where the class order comes from: the node type and its labels."""

    node: str
    labels: ClassLabels


def load(model_bytes: bytes) -> onnx.ModelProto:
    try:
        return onnx.load_from_string(model_bytes)
    except Exception as error:  # onnx raises DecodeError and others
        raise OnnxModelError(f"not a readable ONNX model: {error}") from error


def _tensor_facts(value: onnx.ValueInfoProto) -> TensorFacts:
    kind = value.type.WhichOneof("value") or "unknown"
    if kind != "tensor_type":
        return TensorFacts(value.name, kind.removesuffix("_type"), None, None)
    tensor = value.type.tensor_type
    element = TENSOR_TYPE_NAMES.get(tensor.elem_type, str(tensor.elem_type))
    shape = None
    if tensor.HasField("shape"):
        shape = tuple(
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim
        )
    return TensorFacts(value.name, "tensor", element, shape)


def graph_inputs(model: onnx.ModelProto) -> list[TensorFacts]:
    """Graph inputs that are not initializers (older exporters list both)."""
    initializers = {init.name for init in model.graph.initializer}
    return [_tensor_facts(v) for v in model.graph.input if v.name not in initializers]


def graph_outputs(model: onnx.ModelProto) -> list[TensorFacts]:
    return [_tensor_facts(v) for v in model.graph.output]


def _labels(node: onnx.NodeProto) -> ClassLabels | None:
    for attribute in node.attribute:
        if attribute.name in INTEGER_LABELS and attribute.ints:
            return [int(v) for v in attribute.ints]
        if attribute.name == "classlabels_strings" and attribute.strings:
            return [s.decode("utf-8") for s in attribute.strings]
    return None


def zipmap_for(model: onnx.ModelProto, output_name: str) -> onnx.NodeProto | None:
    for node in model.graph.node:
        if node.op_type == "ZipMap" and output_name in node.output:
            return node
    return None


def class_source(model: onnx.ModelProto, probabilities_output: str) -> ClassSource | None:
    """The class labels in probability-column order: the ZipMap that produces the
    output, else the graph's one ai.onnx.ml classifier node; None when neither says."""
    zipmap = zipmap_for(model, probabilities_output)
    if zipmap is not None:
        labels = _labels(zipmap)
        return ClassSource("ZipMap", labels) if labels is not None else None
    classifiers = [node for node in model.graph.node if node.op_type in CLASSIFIER_OPS]
    if len(classifiers) != 1:
        return None
    labels = _labels(classifiers[0])
    return ClassSource(classifiers[0].op_type, labels) if labels is not None else None


def zipmap_as_identity(model_bytes: bytes, output_name: str) -> bytes:
    """The service's rewrite: the ZipMap producing `output_name` becomes an Identity
    and the output a tensor [N, classes] of the map's value type. Unchanged bytes
    when no ZipMap produces that output."""
    model = load(model_bytes)
    zipmap = zipmap_for(model, output_name)
    if zipmap is None:
        return model_bytes
    labels = _labels(zipmap) or []
    value_type = onnx.TensorProto.FLOAT
    for output in model.graph.output:
        if output.name == output_name and output.type.WhichOneof("value") == "sequence_type":
            element = output.type.sequence_type.elem_type
            if element.WhichOneof("value") == "map_type":
                value_type = element.map_type.value_type.tensor_type.elem_type or value_type
    identity = onnx.helper.make_node("Identity", list(zipmap.input), list(zipmap.output), name=zipmap.name)
    nodes = [identity if node is zipmap else node for node in model.graph.node]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    outputs = [
        onnx.helper.make_tensor_value_info(output_name, value_type, ["N", len(labels)])
        if output.name == output_name
        else output
        for output in model.graph.output
    ]
    del model.graph.output[:]
    model.graph.output.extend(outputs)
    if not any(entry.domain in ("", "ai.onnx") for entry in model.opset_import):
        model.opset_import.add(domain="", version=7)
    return model.SerializeToString()


def probabilities(
    model_bytes: bytes, input_name: str, output_name: str, features: np.ndarray, element_type: ElementType
) -> np.ndarray:
    """[N, classes] probabilities as the service computes them: ZipMap rewritten,
    input by name, the named output."""
    from fraud_training.inference import NUMPY_TYPES, open_session

    session = open_session(zipmap_as_identity(model_bytes, output_name))
    (raw,) = session.run([output_name], {input_name: features.astype(NUMPY_TYPES[element_type])})
    return np.asarray(raw, dtype=np.float64)
