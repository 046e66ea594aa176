"""Parity: run an exported file in its runtime and compare its outputs with the Keras model's.

Thresholds are per precision. A float export that disagrees is an error; a quantized export
below its threshold is flagged in the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ParityThreshold:
    min_top1_agreement: float
    # Allowed max |export - keras| on the outputs, relative to the largest |keras output|.
    max_rel_abs_diff: float


# Per precision, set from what each recipe reaches on the zoo models (benchmarks/quantization):
# float16 and 16x8 stay within a few percent of the logits' range, int8 families within ~half.
PARITY_THRESHOLDS = {
    "float32": ParityThreshold(min_top1_agreement=0.999, max_rel_abs_diff=1e-3),
    "float16": ParityThreshold(min_top1_agreement=0.99, max_rel_abs_diff=2e-2),
    "dynamic": ParityThreshold(min_top1_agreement=0.97, max_rel_abs_diff=0.25),
    "int16x8": ParityThreshold(min_top1_agreement=0.98, max_rel_abs_diff=0.1),
    "int8": ParityThreshold(min_top1_agreement=0.95, max_rel_abs_diff=0.5),
    "int8_io": ParityThreshold(min_top1_agreement=0.95, max_rel_abs_diff=0.5),
    "uint8_io": ParityThreshold(min_top1_agreement=0.95, max_rel_abs_diff=0.5),
    # Compared with the QAT Keras model (fake-quant), which it should track closely.
    "qat_int8": ParityThreshold(min_top1_agreement=0.97, max_rel_abs_diff=0.3),
}
FLOAT_PRECISIONS = {"float32"}


def parity_threshold(precision: str) -> ParityThreshold:
    """The threshold of `precision`; an unknown precision gets the (loosest) int8 one."""
    return PARITY_THRESHOLDS.get(precision, PARITY_THRESHOLDS["int8"])


def run_tflite(path: Path, images: np.ndarray) -> np.ndarray:
    """Outputs of a `.tflite` on `images`, one image at a time, dequantized to float32."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    in_scale, in_zero = inp["quantization"]
    out_scale, out_zero = out["quantization"]
    outputs = []
    for image in images:
        batch = image[None, ...]
        if np.issubdtype(inp["dtype"], np.integer):
            info = np.iinfo(inp["dtype"])
            batch = np.clip(np.round(batch / in_scale + in_zero), info.min, info.max)
        interpreter.set_tensor(inp["index"], batch.astype(inp["dtype"]))
        interpreter.invoke()
        result = interpreter.get_tensor(out["index"])[0]
        if out_scale:
            result = (result.astype(np.float32) - out_zero) * out_scale
        outputs.append(result.astype(np.float32))
    return np.stack(outputs)


def run_onnx(path: Path, images: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: images[i:i + 256].astype(np.float32)})[0]
                           for i in range(0, len(images), 256)])


def check_parity(path: Path, precision: str, keras_outputs: np.ndarray, images: np.ndarray) -> dict:
    """Compares an artifact's outputs with `keras_outputs` on the same `images`.

    Returns:
        top-1 agreement, max and mean absolute difference, the thresholds and whether they held.
    """
    path = Path(path)
    outputs = run_onnx(path, images) if path.suffix == ".onnx" else run_tflite(path, images)
    threshold = parity_threshold(precision)
    scale = float(max(1.0, np.abs(keras_outputs).max()))
    thresholds = {"min_top1_agreement": threshold.min_top1_agreement,
                  "max_abs_diff": threshold.max_rel_abs_diff * scale}
    if not np.isfinite(outputs).all():
        return {"samples": int(len(images)), "top1_agreement": 0.0, "max_abs_diff": None, "mean_abs_diff": None,
                "non_finite_outputs": True, "thresholds": thresholds, "passed": False}
    diff = np.abs(outputs - keras_outputs)  # (N, K)
    agreement = float(np.mean(outputs.argmax(-1) == keras_outputs.argmax(-1)))
    max_abs = float(diff.max())
    return {
        "samples": int(len(images)),
        "top1_agreement": agreement,
        "max_abs_diff": max_abs,
        "mean_abs_diff": float(diff.mean()),
        "thresholds": thresholds,
        "passed": agreement >= thresholds["min_top1_agreement"] and max_abs <= thresholds["max_abs_diff"],
    }
