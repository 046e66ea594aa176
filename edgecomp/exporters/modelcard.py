"""Model cards: `labels.txt` and `<artifact>.json` beside every deployable artifact.

An app needs, besides the file, how to feed it (input shape, dtype, quantization scale and zero
point, the normalisation the training data had) and how to read it (class names, logits or probabilities out).
Several artifacts share one folder, so each gets its own `<artifact file name>.json`
(e.g. `model_int8.tflite.json`); `labels.txt` (one class name per line) is shared.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgecomp.core.files import write_bytes_atomically
from edgecomp.core.records import ArtifactRecord


def tflite_io(path: Path) -> dict:
    """Input/output shape, dtype and (scale, zero point) of a `.tflite`, read by the interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def describe(detail: dict) -> dict:
        scale, zero_point = detail["quantization"]
        return {"shape": [int(d) for d in detail["shape"]], "dtype": detail["dtype"].__name__,
                "scale": float(scale) if scale else None, "zero_point": int(zero_point) if scale else None}

    return {"input": describe(inp), "output": describe(out)}


def onnx_io(path: Path) -> dict:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp, out = session.get_inputs()[0], session.get_outputs()[0]
    return {"input": {"shape": [d if isinstance(d, int) else -1 for d in inp.shape], "dtype": "float32",
                      "scale": None, "zero_point": None, "name": inp.name},
            "output": {"shape": [d if isinstance(d, int) else -1 for d in out.shape], "dtype": "float32",
                       "scale": None, "zero_point": None}}


def feeding_instructions(io: dict, normalization) -> str:
    """One sentence on how an app turns a raw 0..255 pixel into the model's input.

    Args:
        io: `tflite_io` / `onnx_io` of the artifact.
        normalization: the dataset's `Normalization` (x = pixel * scale + offset).
    """
    inp = io["input"]
    if inp["scale"] is None:
        return f"float32 input: {normalization.formula()}"
    q_scale, q_zero = inp["scale"], inp["zero_point"]
    zero_point = normalization.raw_pixel_zero_point()
    # pixel -> normalised -> quantized: q = round((pixel * s + o) / q_scale + q_zero)
    if (zero_point is not None and abs(q_scale - normalization.scale[0]) / abs(normalization.scale[0]) < 1e-3
            and q_zero == zero_point):
        return f"{inp['dtype']} input: feed raw pixels unchanged (scale {q_scale:.6g} = normalisation scale)"
    return (f"{inp['dtype']} input: q = round(({normalization.formula()[4:]}) / {q_scale:.6g} + {q_zero}), "
            f"clipped to the dtype's range")


OUTPUT_MEANINGS = {"logits": "logits (apply softmax for probabilities)",
                   "probabilities": "probabilities (the model applies a softmax, as the model it came from did)"}


def write_model_card(artifact: Path, data, record: ArtifactRecord) -> Path:
    """Writes `labels.txt` and `<artifact>.json` next to `artifact`; returns the json path.

    Args:
        artifact: The model file.
        data: The dataset it was trained on (class names, normalisation).
        record: Its export record: format, precision, parity and, once benchmarked, its accuracy.
    """
    artifact = Path(artifact)
    io = onnx_io(artifact) if artifact.suffix == ".onnx" else tflite_io(artifact)
    write_bytes_atomically(artifact.parent / "labels.txt", ("\n".join(data.class_names) + "\n").encode())
    card = {
        "artifact": artifact.name,
        "format": record.format,
        "precision": record.precision,
        "input": io["input"],
        "output": dict(io["output"], meaning=OUTPUT_MEANINGS[record.outputs or "logits"]),
        "normalization": data.normalization.describe(),
        "how_to_feed": feeding_instructions(io, data.normalization),
        "class_names": list(data.class_names),
        "labels_file": "labels.txt",
        "dataset": data.name,
        "accuracy": record.accuracy,
        "accuracy_samples": record.measurement.accuracy_samples if record.measurement else None,
        "parity": {k: (record.parity or {}).get(k) for k in ("keras_accuracy", "file_accuracy", "accuracy_drop",
                                                             "top1_agreement", "max_abs_diff", "decided_by",
                                                             "passed")},
    }
    path = artifact.with_name(artifact.name + ".json")
    return write_bytes_atomically(path, (json.dumps(card, indent=2) + "\n").encode())
