"""Parity: run an exported file in its runtime and judge it against the Keras model it came from.

Each precision's recipe carries its rule (`edgecomp.plan.precisions.ParityRule`). Given the test
labels, a quantized file is judged by what a user cares about: its accuracy against the Keras
model's on the same images (paired predictions, with a 95% confidence interval on the drop) and
its mean output error; top-1 agreement stays in the record. Float exports, and checks without
labels, are judged by top-1 agreement and the largest output difference. A failed float export
is an error; a failed quantized one is flagged in the report.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np

from edgecomp.plan.precisions import PRECISIONS, ParityRule

Z_95 = 1.959964  # two-sided 95% normal quantile


def paired_accuracy(keras_outputs: np.ndarray, file_outputs: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy of the Keras model and of the file on the same images, and the drop between them.

    The two predictions of an image are paired, so only the images one gets right and the other
    wrong carry information (McNemar's setting). The interval is the Wald interval of a difference
    of paired proportions with a continuity correction of 1/n (Fleiss, Levin & Paik, "Statistical
    Methods for Rates and Proportions", 3rd ed., chapter 13):
    drop = (c - b) / n, se = sqrt(c + b - (c - b)^2 / n) / n, with c images only Keras gets right
    and b only the file gets right.

    Returns:
        keras_accuracy and file_accuracy, accuracy_drop (Keras minus file) and its 95% interval
        accuracy_drop_ci95, as fractions like every accuracy in report.json; only_keras_right (c)
        and only_file_right (b).
    """
    keras_right = keras_outputs.argmax(-1) == labels  # (N,)
    file_right = file_outputs.argmax(-1) == labels
    n = len(labels)
    only_keras = int(np.sum(keras_right & ~file_right))
    only_file = int(np.sum(file_right & ~keras_right))
    drop = (only_keras - only_file) / n
    se = math.sqrt(max(only_keras + only_file - (only_keras - only_file) ** 2 / n, 0.0)) / n
    margin = Z_95 * se + 1 / n
    return {"keras_accuracy": float(keras_right.mean()), "file_accuracy": float(file_right.mean()),
            "accuracy_drop": drop, "accuracy_drop_ci95": [drop - margin, drop + margin],
            "only_keras_right": only_keras, "only_file_right": only_file}


def judge_parity(rule: ParityRule, keras_outputs: np.ndarray, file_outputs: np.ndarray,
                 labels: Optional[np.ndarray] = None) -> dict:
    """Judges a file's outputs (N, K) against its Keras model's on the same images by `rule`.

    Args:
        rule: the recipe's parity rule.
        keras_outputs: the Keras model's outputs (N, K).
        file_outputs: the exported file's outputs on the same images, dequantized to float (N, K).
        labels: the images' true classes (N,); None: judged by top-1 agreement alone.

    Returns:
        samples, top1_agreement, max_abs_diff, mean_abs_diff, the accuracies and the drop with its
        interval (given labels), thresholds, decided_by ("accuracy", "top1_agreement" or
        "non_finite_outputs"), reason (one line) and passed.
    """
    scale = float(max(1.0, np.abs(keras_outputs).max()))  # output differences are relative to it
    thresholds = {"min_top1_agreement": rule.min_top1_agreement, "max_abs_diff": rule.max_rel_abs_diff * scale}
    by_accuracy = labels is not None and rule.max_accuracy_drop_points is not None
    if by_accuracy:
        thresholds.update(max_accuracy_drop=rule.max_accuracy_drop_points / 100,
                          max_mean_abs_diff=rule.max_rel_mean_abs_diff * scale)
    record: dict = {"samples": int(len(keras_outputs)), "thresholds": thresholds}
    if not np.isfinite(file_outputs).all():
        return {**record, "top1_agreement": 0.0, "max_abs_diff": None, "mean_abs_diff": None,
                "non_finite_outputs": True, "decided_by": "non_finite_outputs",
                "reason": "the file outputs NaN or infinity", "passed": False}
    diff = np.abs(file_outputs - keras_outputs)  # (N, K)
    record.update(top1_agreement=float(np.mean(file_outputs.argmax(-1) == keras_outputs.argmax(-1))),
                  max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()))
    if labels is not None:
        record.update(paired_accuracy(keras_outputs, file_outputs, np.asarray(labels)))
    verdict = _by_accuracy(record) if by_accuracy else _by_agreement(record)
    return {**record, **verdict}


def _by_accuracy(record: dict) -> dict:
    """Fails on a mean output error past its limit, or an accuracy loss past the limit that the
    images show (its 95% interval above 0); a loss within chance is not a failure."""
    limits = record["thresholds"]
    low, high = record["accuracy_drop_ci95"]
    accuracy = (f"accuracy {record['file_accuracy']:.2%} vs Keras {record['keras_accuracy']:.2%} (drop "
                f"{100 * record['accuracy_drop']:+.2f} pt, 95% interval [{100 * low:+.2f}, {100 * high:+.2f}], "
                f"limit {100 * limits['max_accuracy_drop']:g} pt)")
    error = f"mean |diff| {record['mean_abs_diff']:.4g} (limit {limits['max_mean_abs_diff']:.4g})"
    agreement = f"top-1 agreement {record['top1_agreement']:.3f}"
    loss_shown = record["accuracy_drop"] > limits["max_accuracy_drop"] and low > 0
    error_ok = record["mean_abs_diff"] <= limits["max_mean_abs_diff"]
    if loss_shown:
        reason = f"less accurate than its Keras model: {accuracy}; {error}; {agreement}"
    elif not error_ok:
        reason = f"outputs off: {error}; {accuracy}; {agreement}"
    else:
        reason = f"{accuracy}; {error}; {agreement}"
    return {"decided_by": "accuracy", "reason": reason, "passed": error_ok and not loss_shown}


def _by_agreement(record: dict) -> dict:
    limits = record["thresholds"]
    passed = (record["top1_agreement"] >= limits["min_top1_agreement"]
              and record["max_abs_diff"] <= limits["max_abs_diff"])
    reason = (f"top-1 agreement {record['top1_agreement']:.3f} (needs {limits['min_top1_agreement']:g}), "
              f"max |diff| {record['max_abs_diff']:.4g} (limit {limits['max_abs_diff']:.4g})")
    return {"decided_by": "top1_agreement", "reason": reason, "passed": passed}


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


def check_parity(path: Path, precision: str, keras_outputs: np.ndarray, images: np.ndarray,
                 labels: Optional[np.ndarray] = None) -> dict:
    """Runs an artifact on `images` and judges it against `keras_outputs` by its recipe's rule.

    Args:
        path: the `.tflite` or `.onnx` file.
        precision: its recipe's name (edgecomp.plan.precisions.PRECISIONS).
        keras_outputs: the Keras model's outputs on `images` (N, K).
        images: normalised test images (N, H, W, C).
        labels: their true classes (N,): the file is then judged by accuracy where its recipe says so.

    Returns:
        judge_parity's record, with `precision` (the recipe whose rule decided).

    Raises:
        UsageError: `precision` is not a registered recipe.
    """
    return judge_outputs(precision, keras_outputs, run_artifact(path, images), labels)


def run_artifact(path: Path, images: np.ndarray) -> np.ndarray:
    """The outputs of a `.tflite` (LiteRT) or `.onnx` (onnxruntime) file on `images`."""
    path = Path(path)
    return run_onnx(path, images) if path.suffix == ".onnx" else run_tflite(path, images)


def judge_outputs(precision: str, keras_outputs: np.ndarray, outputs: np.ndarray,
                  labels: Optional[np.ndarray] = None) -> dict:
    """check_parity's verdict on outputs already computed (see check_parity)."""
    rule = PRECISIONS.get(precision).parity
    return {"precision": precision, **judge_parity(rule, keras_outputs, outputs, labels)}
