#!/usr/bin/env python3
"""Why a MobileNetV2 (alpha 0.35) int8 file disagrees with its Keras model: PTQ vs QAT, layer by layer.

    .venv/bin/python benchmarks/user_models/int8_parity_probe.py     # writes int8_parity_probe.json

A tf-keras MobileNetV2 (alpha 0.35, weights from scratch) trained 3 epochs on 1,800 real
Fashion-MNIST images at 96x96x3 (the data of run.py), then:
- the converter's PTQ int8 of the float model, against the float model (parity on 500 test images);
- QAT (edgecomp's scheme) after 1 and after 3 epochs, each file against its Keras QAT model;
- after 1 QAT epoch, each int8 activation tensor of the file against the Keras QAT layer of the same
  name, on 8 test images: the mean relative difference, in graph order.
"""

from __future__ import annotations

import json
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # this checkout's edgecomp
sys.path.insert(0, str(HERE))

from run import write_fmnist96

from edgecomp.compress.bn_stats import reestimate_bn_statistics
from edgecomp.compress.fitting import fit
from edgecomp.compress.qat import build_qat_model
from edgecomp.core.tfenv import keras, seed_everything
from edgecomp.data.dataset import load_dataset
from edgecomp.data.pipeline import stream
from edgecomp.exporters.parity import check_parity
from edgecomp.exporters.tflite import keras_to_tflite


def layer_differences(qat_model, path: Path, images: np.ndarray) -> list[dict]:
    """Mean |file - Keras| / mean |Keras| for each 4-D int8 tensor named after a Keras QAT layer."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    file_values: dict[str, list] = {}
    for image in images:
        interpreter.set_tensor(index, image[None].astype(np.float32))
        interpreter.invoke()
        for detail in interpreter.get_tensor_details():
            scale, zero = detail["quantization"]
            if detail["dtype"] != np.int8 or not scale or len(detail["shape"]) != 4:
                continue
            value = interpreter.get_tensor(detail["index"]).astype(np.float32)
            file_values.setdefault(detail["name"], []).append((value - zero) * scale)
    layers = [layer for layer in qat_model.layers[1:] if len(layer.output.shape) == 4]
    outputs = keras().Model(qat_model.input, [layer.output for layer in layers]).predict(images, verbose=0)
    keras_values = {layer.name: out for layer, out in zip(layers, outputs)}
    order = [layer.name for layer in layers]
    rows = []
    for tensor, values in file_values.items():
        # The fused tensor's name starts with its last Keras layer ("model/quant_block_1_depthwise_relu/Relu6;...").
        name = tensor.split(";")[0].split("/")[1] if "/" in tensor else None
        if name in keras_values and keras_values[name].shape == np.concatenate(values).shape:
            ref = keras_values[name]
            rows.append({"layer": name, "position": order.index(name),
                         "relative_difference": float(np.abs(ref - np.concatenate(values)).mean()
                                                      / (np.abs(ref).mean() + 1e-9))})
    return sorted(rows, key=lambda row: row["position"])


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="edgecomp-int8-probe-"))
    write_fmnist96(folder / "fmnist96.npz", 2000, 500)
    data = load_dataset(str(folder / "fmnist96.npz"), normalization="symmetric")
    seed_everything(0)
    k = keras()
    backbone = k.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, include_top=False)
    model = k.Model(backbone.input, k.layers.Dense(10)(k.layers.GlobalAveragePooling2D()(backbone.output)))
    fit(model, data, 3, 128, 2e-3, "float", fresh_bn=True)
    reestimate_bn_statistics(model, data)
    test = np.concatenate([x.numpy() for x, _ in stream(data, "test", 500)])
    calibration = np.concatenate([x.numpy() for x, _ in stream(data, "train", 300)])[:300]

    results = {"command": "python benchmarks/user_models/int8_parity_probe.py " + shlex.join(sys.argv[1:])}
    keras_to_tflite(model, folder / "ptq.tflite", "int8", calibration)
    results["ptq_int8_vs_float"] = check_parity(folder / "ptq.tflite", "int8", model.predict(test, verbose=0), test)
    qat_model, _ = build_qat_model(model)
    for done, epochs in ((1, 1), (3, 2)):
        fit(qat_model, data, epochs, 128, 1e-4, "qat")
        path = folder / f"qat{done}.tflite"
        keras_to_tflite(qat_model, path, "qat_int8", calibration[:100])
        results[f"qat_{done}_epochs_vs_keras_qat"] = check_parity(path, "qat_int8", qat_model.predict(test, verbose=0),
                                                                  test)
        if done == 1:
            results["layers_after_1_qat_epoch"] = layer_differences(qat_model, path, test[:8])
    (HERE / "int8_parity_probe.json").write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(key, json.dumps(value)[:300])
    return 0


if __name__ == "__main__":
    sys.exit(main())
