"""scikit-learn -> ONNX with skl2onnx, checked against scikit-learn with onnxruntime.

The bundled models use skl2onnx's default classifier output (what the service we
replace consumed): a label tensor `output_label` and a ZipMap `output_probability`
(a sequence of {class id: probability} maps). `zipmap=False` gives a plain
`probabilities` float tensor instead; the test fixtures use both shapes.

Opsets are pinned (not "latest") so that a newer skl2onnx cannot silently emit
operators that the service's onnxruntime-node does not know.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
from sklearn.base import ClassifierMixin

from fraud_training.errors import PipelineError
from fraud_training.inference import INPUT_NAME, NUMPY_TYPES, ElementType, onnx_probabilities, open_session

TARGET_OPSET: dict[str, int] = {"": 17, "ai.onnx.ml": 3}


@dataclass(frozen=True)
class ExportOptions:
    """Shape of the exported graph."""

    element_type: ElementType = "float32"
    zipmap: bool = True

    @property
    def output_names(self) -> tuple[str, str]:
        """(label, probabilities) output names that skl2onnx gives each variant."""
        return ("output_label", "output_probability") if self.zipmap else ("label", "probabilities")


class ParityError(PipelineError):
    """ONNX and scikit-learn disagree by more than the tolerance."""


def to_onnx_bytes(
    model: ClassifierMixin, n_features: int, options: ExportOptions, graph_name: str = "fraud_model"
) -> bytes:
    """Serialized ONNX model with one input `input` of shape [None, n_features].

    The graph name is set (skl2onnx would draw a random uuid) and the opset list is
    sorted, so that the same model always serializes to the same bytes.
    """
    tensor_type = FloatTensorType if options.element_type == "float32" else DoubleTensorType
    converter_options = None if options.zipmap else {id(model): {"zipmap": False}}
    onnx_model = convert_sklearn(
        model,
        initial_types=[(INPUT_NAME, tensor_type([None, n_features]))],
        target_opset=TARGET_OPSET,
        options=converter_options,
        name=graph_name,
    )
    _dedupe_opset_imports(onnx_model)
    onnx.checker.check_model(onnx_model)
    return onnx_model.SerializeToString()


def _dedupe_opset_imports(model: onnx.ModelProto) -> None:
    """skl2onnx can list the default domain twice, in no fixed order; keep the highest
    version of each domain, sorted by domain, so that strict loaders accept the file
    and the bytes are reproducible."""
    best: dict[str, int] = {}
    for entry in model.opset_import:
        best[entry.domain] = max(best.get(entry.domain, 0), entry.version)
    del model.opset_import[:]
    for domain, version in sorted(best.items()):
        model.opset_import.add(domain=domain, version=version)


def verify_parity(
    model: ClassifierMixin,
    model_bytes: bytes,
    features: np.ndarray,
    element_type: ElementType,
    tolerance: float = 1e-5,
) -> tuple[float, np.ndarray]:
    """Max |ONNX - predict_proba| over all rows; raises ParityError above tolerance.

    Both sides see the same values (the input cast to the graph's element type), so
    a difference can only come from the conversion. Returns the ONNX probabilities
    too, so that the metrics are those of the artifact that ships.
    """
    cast = features.astype(NUMPY_TYPES[element_type])
    expected = model.predict_proba(cast)
    actual = onnx_probabilities(open_session(model_bytes), cast, element_type)
    if actual.shape != expected.shape:
        raise ParityError(f"ONNX probabilities have shape {actual.shape}, expected {expected.shape}")
    difference = float(np.abs(actual - expected).max()) if len(cast) else 0.0
    if difference > tolerance:
        raise ParityError(f"ONNX differs from scikit-learn by {difference:.3g} > {tolerance:g}")
    return difference, actual
