"""Keras -> ONNX with tf2onnx."""

from __future__ import annotations

import os
from pathlib import Path

from edgecomp.core.errors import ExportError, first_line
from edgecomp.core.tfenv import tf
from edgecomp.exporters.rejections import tf2onnx_errors


def keras_to_onnx(model, path: Path, opset: int = 13) -> Path:
    """Converts a Keras model to a float32 `.onnx` file with a dynamic batch dimension.

    Raises:
        ExportError: tf2onnx failed.
    """
    import onnx
    import tf2onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    signature = (tf().TensorSpec((None,) + tuple(model.input_shape[1:]), tf().float32, name="input"),)
    try:
        tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset, output_path=str(tmp))
        # tf2onnx logs unsupported TensorFlow ops and still writes the file: check it is valid ONNX.
        onnx.checker.check_model(str(tmp))
    except tf2onnx_errors() as err:  # what tf2onnx and the checker reject; anything else is a bug here
        tmp.unlink(missing_ok=True)
        raise ExportError(f"ONNX export (opset {opset}) of {model.name} failed: {first_line(err)}") from err
    os.replace(tmp, path)
    return path
