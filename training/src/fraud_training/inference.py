"""Reading ONNX models with onnxruntime: sessions, probabilities, graph facts.

Kept apart from `export` so that commands that only read models (verify, publish)
do not pay for importing scikit-learn and skl2onnx.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import onnx
import onnxruntime as ort

ElementType = Literal["float32", "float64"]
INPUT_NAME = "input"
NUMPY_TYPES: dict[ElementType, type[np.floating]] = {"float32": np.float32, "float64": np.float64}


def open_session(model_bytes: bytes, threads: int = 1) -> ort.InferenceSession:
    """A CPU session; one intra-op thread by default (the service's setting per core)."""
    settings = ort.SessionOptions()
    settings.intra_op_num_threads = threads
    settings.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, settings, providers=["CPUExecutionProvider"])


def onnx_probabilities(
    session: ort.InferenceSession, features: np.ndarray, element_type: ElementType
) -> np.ndarray:
    """Class probabilities [N, n_classes] of a model this package exported (one input,
    outputs label then probabilities), whichever shape the probabilities have (ZipMap
    maps or a plain tensor). Models from elsewhere: `onnx_model.probabilities`, which
    reads them by the manifest's names as the service does."""
    probabilities_name = session.get_outputs()[-1].name
    input_name = session.get_inputs()[0].name
    (raw,) = session.run([probabilities_name], {input_name: features.astype(NUMPY_TYPES[element_type])})
    if isinstance(raw, np.ndarray):
        return raw.astype(np.float64)
    if not raw:
        return np.zeros((0, 0))
    classes = sorted(raw[0])
    return np.array([[row[c] for c in classes] for row in raw], dtype=np.float64)


def strip_zipmap(model_bytes: bytes) -> bytes:
    """The same graph without its ZipMap: the ZipMap's input tensor becomes the
    probability output. This is the rewrite the TypeScript loader does
    (onnxruntime-node cannot return a sequence of maps); used here for timing."""
    model = onnx.load_from_string(model_bytes)
    zipmaps = [node for node in model.graph.node if node.op_type == "ZipMap"]
    if not zipmaps:
        return model_bytes
    (zipmap,) = zipmaps
    source = zipmap.input[0]
    model.graph.node.remove(zipmap)
    kept = [out for out in model.graph.output if out.name != zipmap.output[0]]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    n_classes = len(next(a.ints for a in zipmap.attribute if a.name == "classlabels_int64s"))
    model.graph.output.append(
        onnx.helper.make_tensor_value_info(source, onnx.TensorProto.FLOAT, [None, n_classes])
    )
    return model.SerializeToString()


def zipmap_class_labels(model_bytes: bytes) -> list[int] | None:
    """The ZipMap's `classlabels_int64s`, or None when the graph has no ZipMap."""
    model = onnx.load_from_string(model_bytes)
    for node in model.graph.node:
        if node.op_type == "ZipMap":
            for attribute in node.attribute:
                if attribute.name == "classlabels_int64s":
                    return list(attribute.ints)
    return None
