"""What each converter and runtime raises when it rejects a model, and only that.

Export code catches these around the converter or runtime call alone and turns them into an
`ExportError`: a failed row with the reason. Anything else raised there is a bug in edgecomp and
keeps its traceback (`edgecomp.core.errors`' contract): a KeyError in a calibration helper must not
read like a model the converter refused. The types are the ones each library's own source raises
(TensorFlow 2.21, tf2onnx 1.17, onnx 1.23, onnxruntime 1.32).
"""

from __future__ import annotations

import sys

from edgecomp.core.errors import DependencyError
from edgecomp.core.tfenv import tf

ErrorTypes = tuple[type[BaseException], ...]


def _tflite_converter_error() -> type[BaseException]:
    """The converter's ConverterError: public in its messages, not exported by `tf.lite`, so it is
    read from the module that defines `TFLiteConverter` (which imports it)."""
    converter_module = sys.modules[tf().lite.TFLiteConverter.__module__]
    error = getattr(converter_module, "ConverterError", None)
    if not (isinstance(error, type) and issubclass(error, Exception)):
        raise DependencyError(f"{converter_module.__name__} no longer has ConverterError; edgecomp cannot tell "
                              f"a converter rejection from a bug with TensorFlow {tf().__version__}.")
    return error

def tflite_converter_errors() -> ErrorTypes:
    """ConverterError (MLIR: an op with no TFLite kernel, a failed legalization), ValueError (the
    converter's own checks), RuntimeError (the C++ calibrator and quantizer, e.g. "Quantization not
    yet supported for op") and TensorFlow's OpError (tracing the model)."""
    return (_tflite_converter_error(), ValueError, RuntimeError, tf().errors.OpError)

def onnx_checker_errors() -> ErrorTypes:
    """onnx's checker and shape inference on a graph they refuse (e.g. "No Op registered for Svd")."""
    import onnx

    return (onnx.checker.ValidationError, onnx.shape_inference.InferenceError)

def tf2onnx_errors() -> ErrorTypes:
    """tf2onnx raises ValueError and RuntimeError (NotImplementedError included) for graphs it cannot
    convert; TensorFlow's OpError while it traces the model; it writes a file with the ops it could
    not convert, which the onnx checker then refuses."""
    return (ValueError, RuntimeError, tf().errors.OpError) + onnx_checker_errors()

def onnxruntime_errors() -> ErrorTypes:
    """onnxruntime's own exception types (InvalidGraph, NotImplemented, Fail...), plus the ValueError
    and RuntimeError its quantization tools raise and onnx's errors on the graphs they rewrite."""
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

    own = tuple(value for value in vars(ort_state).values()
                if isinstance(value, type) and issubclass(value, Exception))
    return own + (ValueError, RuntimeError) + onnx_checker_errors()

def litert_runtime_errors() -> ErrorTypes:
    """LiteRT's Interpreter on a file it cannot run: ValueError when it cannot read the model,
    RuntimeError when an op fails to prepare or has no kernel ("Node 1 (ADD) failed to prepare", a
    Flex or custom op this interpreter lacks)."""
    return (ValueError, RuntimeError)


def runtime_errors(path) -> ErrorTypes:
    """What the runtime of this file (LiteRT for .tflite, onnxruntime for .onnx) raises when it refuses it."""
    return onnxruntime_errors() if str(path).endswith(".onnx") else litert_runtime_errors()
