"""What an ONNX classifier says about itself, read the way the service reads it.

The service (src/models/modelLoader.ts) finds a model's class labels with
src/models/onnxClassLabels.ts and turns a ZipMap that feeds the manifest's
probability output into an Identity node (src/models/onnxZipMap.ts), so the same
output name gives the [N, classes] tensor ZipMap was fed. This module implements the
same two steps, rule for rule, so that `package` and `verify` accept exactly the
models the service accepts; the shared vectors in test/fixtures/acceptance hold both
sides to it.

The class-label rule: walk back from the probability output through the nodes that
produce it; on each path the first node with a non-empty classlabels_int64s,
classlabels_ints or classlabels_strings attribute declares the labels of the columns
(nodes in between keep the column order). Every distinct list found is a declaration:
none means the model names no labels (a graph of plain operators), one is the class
order, several contradict each other. The label output is walked back the same way
(model_class_labels): where it names the classes (a classifier's classlabels_*, or an
ArrayFeatureExtractor picking them from a constant, as skl2onnx's ensembles and
one-vs-rest models do), its list is the order and probability-path lists that are
mere indices 0, 1, ... are set aside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import onnx
import onnx.numpy_helper

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
# Where ai.onnx.ml nodes name their classes: ZipMap and TreeEnsembleClassifier in
# classlabels_int64s, LinearClassifier and SVMClassifier in classlabels_ints, all of
# them in classlabels_strings for string classes.
LABEL_ATTRIBUTES = ("classlabels_int64s", "classlabels_ints", "classlabels_strings")
# Identity exists since opset 1; 7 is the oldest default-domain opset onnxruntime runs.
FALLBACK_DEFAULT_OPSET = 7

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
class DeclaredLabels:
    """Class labels one node declares for the probability columns, and which node."""

    labels: ClassLabels
    declared_by: str  # "classlabels_strings of ZipMap node ZipMap", as the service says it

    def shown(self) -> str:
        return f"{format_labels(self.labels)} ({self.declared_by})"


def format_labels(labels: list[int] | list[str]) -> str:
    """[a, b, c], as the service prints a list."""
    return "[" + ", ".join(str(label) for label in labels) + "]"


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


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")  # as TextDecoder does in the service


def node_labels(node: onnx.NodeProto) -> list[DeclaredLabels]:
    """Every non-empty class-label attribute of a node, in attribute order (an empty
    one names nothing)."""
    declared: list[DeclaredLabels] = []
    for attribute in node.attribute:
        if attribute.name not in LABEL_ATTRIBUTES:
            continue
        labels: ClassLabels = (
            [_text(s) for s in attribute.strings]
            if attribute.name == "classlabels_strings"
            else [int(v) for v in attribute.ints]
        )
        if labels:
            where = f" {node.name}" if node.name else ""
            declared.append(DeclaredLabels(labels, f"{attribute.name} of {node.op_type} node{where}"))
    return declared


def declared_class_labels(model: onnx.ModelProto, output_name: str) -> list[DeclaredLabels]:
    """The distinct label lists that the first labelled node on each path back from
    `output_name` declares (the service's declaredClassLabels, same walk, same order)."""
    producers: dict[str, int] = {}
    for index, node in enumerate(model.graph.node):
        for output in node.output:
            producers[output] = index
    found: list[DeclaredLabels] = []
    visited: set[int] = set()
    pending = [output_name]
    while pending:
        index = producers.get(pending.pop())
        if index is None or index in visited:
            continue
        visited.add(index)
        node = model.graph.node[index]
        declared = node_labels(node)
        if not declared:
            pending.extend(node.input)
        for entry in declared:
            if all(known.labels != entry.labels for known in found):
                found.append(entry)
    return found


def _constant_values(tensor: onnx.TensorProto) -> ClassLabels | None:
    """The values of an int32, int64 or string tensor; None for any other type."""
    if tensor.data_type == onnx.TensorProto.STRING:
        return [_text(s) for s in tensor.string_data]
    if tensor.data_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32):
        return [int(v) for v in onnx.numpy_helper.to_array(tensor).reshape(-1)]
    return None


def _constants(model: onnx.ModelProto) -> dict[str, ClassLabels]:
    """Integer and string tensors of the initializers and Constant nodes, by name."""
    found: dict[str, ClassLabels] = {}
    for tensor in model.graph.initializer:
        values = _constant_values(tensor)
        if values is not None:
            found[tensor.name] = values
    for node in model.graph.node:
        if node.op_type != "Constant" or not node.output:
            continue
        for attribute in node.attribute:
            if attribute.name == "value" and attribute.HasField("t"):
                values = _constant_values(attribute.t)
                if values is not None:
                    found[node.output[0]] = values
    return found


def _picked_from_constant(node: onnx.NodeProto, constants: dict[str, ClassLabels]) -> list[DeclaredLabels]:
    """ArrayFeatureExtractor(classes constant, indices): the constant's values."""
    if node.op_type != "ArrayFeatureExtractor" or not node.input:
        return []
    labels = constants.get(node.input[0])
    if not labels:
        return []
    where = f" {node.name}" if node.name else ""
    return [
        DeclaredLabels(
            labels,
            f"constant {node.input[0]} of ArrayFeatureExtractor node{where} (the label output's classes)",
        )
    ]


def label_output_classes(model: onnx.ModelProto, output_name: str) -> list[DeclaredLabels]:
    """The class lists the label output is drawn from (the service's
    labelOutputClasses): walking back from it, the first node on each path that names
    classes (classlabels_*) or picks them from a constant (ArrayFeatureExtractor of an
    initializer or a Constant)."""
    producers = {output: index for index, node in enumerate(model.graph.node) for output in node.output}
    constants = _constants(model)
    found: list[DeclaredLabels] = []
    visited: set[int] = set()
    pending = [output_name]
    while pending:
        index = producers.get(pending.pop())
        if index is None or index in visited:
            continue
        visited.add(index)
        node = model.graph.node[index]
        declared = node_labels(node) + _picked_from_constant(node, constants)
        if not declared:
            pending.extend(node.input)
        for entry in declared:
            if all(known.labels != entry.labels for known in found):
                found.append(entry)
    return found


def _is_index_list(labels: ClassLabels) -> bool:
    return all(label == index for index, label in enumerate(labels))


def model_class_labels(
    model: onnx.ModelProto, probabilities_output: str, label_output: str | None
) -> list[DeclaredLabels]:
    """The class order of the probability columns from everything the model says (the
    service's modelClassLabels): an ensemble exported without ZipMap names its classes
    as indices in its members ([0, 1]) and by name in its label output (picked from a
    `classes` constant by the argmax), so the label output's list is the truth and
    member lists of mere indices say nothing. `label_output` None: the model's one
    other graph output, if it has exactly one. Reads as declared_class_labels: none,
    one (the order), several (contradicting)."""
    on_path = declared_class_labels(model, probabilities_output)
    if label_output is None:
        others = [o.name for o in model.graph.output if o.name != probabilities_output]
        label_output = others[0] if len(others) == 1 else None
    named = label_output_classes(model, label_output) if label_output is not None else []
    if not named:
        return on_path
    if len(named) > 1:
        kept: list[DeclaredLabels] = []
        for entry in on_path + named:
            if all(known.labels != entry.labels for known in kept):
                kept.append(entry)
        return kept
    (from_label,) = named
    agreeing = next((entry for entry in on_path if entry.labels == from_label.labels), None)
    kept = [e for e in on_path if e is agreeing or not _is_index_list(e.labels)]
    return kept if agreeing is not None else [from_label, *kept]


def zipmap_for(model: onnx.ModelProto, output_name: str) -> onnx.NodeProto | None:
    """The first ZipMap node among whose outputs is `output_name`."""
    for node in model.graph.node:
        if node.op_type == "ZipMap" and output_name in node.output:
            return node
    return None


def _zipmap_class_count(zipmap: onnx.NodeProto) -> int | None:
    """How many classes the ZipMap lists (its first int64 or string label attribute)."""
    for attribute in zipmap.attribute:
        if attribute.name == "classlabels_int64s":
            return len(attribute.ints)
        if attribute.name == "classlabels_strings":
            return len(attribute.strings)
    return None


def _zipmap_value_type(output: onnx.ValueInfoProto) -> int:
    """The element type of the map values in seq(map(k, tensor(v))); float when not declared."""
    if output.type.WhichOneof("value") == "sequence_type":
        element = output.type.sequence_type.elem_type
        if element.WhichOneof("value") == "map_type":
            value = element.map_type.value_type
            if value.WhichOneof("value") == "tensor_type" and value.tensor_type.elem_type:
                return value.tensor_type.elem_type
    return onnx.TensorProto.FLOAT


def zipmap_as_identity(model_bytes: bytes, output_name: str) -> bytes:
    """The service's rewrite: the ZipMap producing `output_name` becomes an Identity
    and the output a tensor [N, classes] of the map's value type ([N] when the ZipMap
    lists no classes). Unchanged bytes when no ZipMap produces that output."""
    model = load(model_bytes)
    zipmap = zipmap_for(model, output_name)
    if zipmap is None:
        return model_bytes
    graph_output = next((o for o in model.graph.output if o.name == output_name), None)
    if graph_output is None:
        raise OnnxModelError(f"ZipMap output {output_name} is not a graph output")
    classes = _zipmap_class_count(zipmap)
    shape: list[str | int] = ["N"] if classes is None else ["N", classes]
    tensor = onnx.helper.make_tensor_value_info(output_name, _zipmap_value_type(graph_output), shape)
    identity = onnx.helper.make_node("Identity", list(zipmap.input), list(zipmap.output))
    if zipmap.name:
        identity.name = zipmap.name
    nodes = [identity if node is zipmap else node for node in model.graph.node]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    outputs = [tensor if output is graph_output else output for output in model.graph.output]
    del model.graph.output[:]
    model.graph.output.extend(outputs)
    if not any(entry.domain in ("", "ai.onnx") for entry in model.opset_import):
        model.opset_import.add(domain="", version=FALLBACK_DEFAULT_OPSET)
    return model.SerializeToString()


def probabilities(
    model_bytes: bytes, input_name: str, output_name: str, features: np.ndarray, element_type: ElementType
) -> np.ndarray:
    """[N, classes] probabilities as the service computes them: ZipMap rewritten,
    input by name, the named output."""
    return run_outputs(model_bytes, input_name, [output_name], features, element_type)[0].astype(np.float64)


def run_outputs(
    model_bytes: bytes,
    input_name: str,
    output_names: list[str],
    features: np.ndarray,
    element_type: ElementType,
) -> list[np.ndarray]:
    """Named outputs of the model with the service's ZipMap rewrite of the first one."""
    from fraud_training.inference import NUMPY_TYPES, open_session

    session = open_session(zipmap_as_identity(model_bytes, output_names[0]))
    raw = session.run(output_names, {input_name: features.astype(NUMPY_TYPES[element_type])})
    return [np.asarray(value) for value in raw]
