"""ONNX int8 (QDQ static quantization) runs in onnxruntime and tracks the float model."""

import numpy as np
import pytest

from edgecomp.core.errors import ExportError
from edgecomp.exporters.onnx import keras_to_onnx
from edgecomp.exporters.onnx_quant import onnx_to_onnx_int8
from edgecomp.exporters.parity import check_parity


def test_onnx_int8_is_qdq_and_tracks_the_float_model(tiny_model, fmnist_small, tmp_path):
    """A broken conversion agrees with Keras near chance (~0.1-0.3). onnxruntime's int8 of cnn-tiny
    (1.8k parameters) measured 0.91-0.99 top-1 agreement across seeds, below TFLite int8's 0.97-0.985
    on the same models and under the report's 0.95 flag; calibration method, activation type and
    pre-processing made no difference (0.91-0.925). Kept as a finding, not hidden by this bound."""
    import onnx

    float_path = keras_to_onnx(tiny_model, tmp_path / "m.onnx")
    path = onnx_to_onnx_int8(float_path, tmp_path / "m_int8.onnx", fmnist_small.images("train", 100))
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    images = fmnist_small.images("test", 200)
    parity = check_parity(path, "int8", tiny_model.predict(images, verbose=0), images)
    assert parity["top1_agreement"] >= 0.85, parity
    assert parity["max_abs_diff"] <= parity["thresholds"]["max_abs_diff"], parity


def test_onnx_int8_needs_calibration_images(tiny_model, tmp_path):
    float_path = keras_to_onnx(tiny_model, tmp_path / "m.onnx")
    with pytest.raises(ExportError, match="calibration"):
        onnx_to_onnx_int8(float_path, tmp_path / "q.onnx", np.zeros((0, 28, 28, 1), np.float32))
