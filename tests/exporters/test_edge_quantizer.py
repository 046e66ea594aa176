"""The AI Edge Quantizer recipes on real files: each recipe's precision read back from the flatbuffer, per-layer
overrides, and `auto` mixed precision on a model built to have one sensitive layer."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ai_edge_quantizer")

from edgecomp.core.errors import UsageError
from edgecomp.exporters.edge_quantizer import (
    Override,
    auto_mixed_precision,
    build_recipe,
    calibrate_min_max,
    file_accuracy,
    layer_precisions,
    left_float,
    tflite_to_quantized,
)
from edgecomp.exporters.tflite import keras_to_tflite


@pytest.fixture(scope="module")
def float_file(tiny_model, tmp_path_factory):
    return keras_to_tflite(tiny_model, tmp_path_factory.mktemp("aeq") / "tiny_float32.tflite", "float32")


def _kernel_layers(path):
    return [layer for layer in layer_precisions(path) if layer["op"] in ("CONV_2D", "FULLY_CONNECTED",
                                                                          "DEPTHWISE_CONV_2D")]


@pytest.mark.parametrize("precision, weights, activations", [
    ("a8w8", "int8", "int8"), ("a16w8", "int8", "int16"), ("w4", "int4", "float32"), ("dynamic_w4", "int4", "float32"),
])
def test_each_recipe_is_what_the_file_holds_and_keeps_accuracy(float_file, fmnist_small, tmp_path, precision,
                                                               weights, activations):
    images, labels = fmnist_small.images("test"), fmnist_small.labels("test")
    out = tflite_to_quantized(float_file, tmp_path / f"{precision}.tflite", build_recipe(precision),
                              fmnist_small.images("train", 64))
    kernels = _kernel_layers(out)
    assert kernels and all(layer["weights"] == weights for layer in kernels), kernels
    assert all(layer["activations"] == activations for layer in kernels), kernels
    assert left_float(layer_precisions(out)) == []
    # The quantized file is a working model: within a few points of the float file on 500 real images.
    assert file_accuracy(out, images, labels) > file_accuracy(float_file, images, labels) - 4
    assert out.stat().st_size < float_file.stat().st_size


def _output_snr_db(float_file, quantized, images) -> float:
    from edgecomp.exporters.parity import run_tflite

    reference = run_tflite(float_file, images)  # (N, K) logits
    error = run_tflite(quantized, images) - reference
    return float(10 * np.log10(np.sum(reference ** 2) / np.sum(error ** 2)))


def test_calibration_ranges_cover_every_image_so_16_bit_activations_beat_8(float_file, fmnist_small, tmp_path):
    """The ranges are the min and max over all calibration images (the converter's rule), not the quantizer's
    moving average of each image's extremes, which clipped activations and left a16w8 no closer to float than
    a8w8 (both about 12 dB output SNR on cnn-tiny)."""
    calibration, images = fmnist_small.images("train", 64), fmnist_small.images("test", 200)
    ranges = calibrate_min_max(float_file, build_recipe("a16w8"), calibration)
    first_image = calibrate_min_max(float_file, build_recipe("a16w8"), calibration[:1])
    for name, qsv in first_image.items():  # more images only widen a range
        assert np.all(ranges[name]["min"] <= qsv["min"]) and np.all(ranges[name]["max"] >= qsv["max"]), name
    snr = {precision: _output_snr_db(float_file, tflite_to_quantized(
        float_file, tmp_path / f"{precision}.tflite", build_recipe(precision), calibration), images)
        for precision in ("a8w8", "a16w8")}
    assert snr["a8w8"] > 25 and snr["a16w8"] > snr["a8w8"] + 3, snr


def test_overrides_by_layer_name_and_op_type(float_file, fmnist_small, tmp_path):
    kernels = _kernel_layers(float_file)
    first_conv = next(layer for layer in kernels if layer["op"] == "CONV_2D")
    layer_name = first_conv["name"].split("/")[1]  # "model/<layer>/..." -> the Keras layer's name
    recipe = build_recipe("a8w8", [Override("a16w8", layers=layer_name), Override("w4", ops=("FULLY_CONNECTED",))])
    out = tflite_to_quantized(float_file, tmp_path / "mixed.tflite", recipe, fmnist_small.images("train", 64))
    for layer in _kernel_layers(out):
        if layer_name in layer["name"]:
            assert layer["activations"] == "int16" and layer["weights"] == "int8", layer
        elif layer["op"] == "FULLY_CONNECTED":
            assert layer["weights"] == "int4", layer
        else:
            assert layer["activations"] == "int8" and layer["weights"] == "int8", layer


def test_override_errors_are_usage_errors():
    with pytest.raises(UsageError, match="not one of"):
        Override("int3", layers="conv")
    with pytest.raises(UsageError, match="not both"):
        Override("a16w8", layers="conv", ops=("CONV_2D",))
    with pytest.raises(UsageError, match="not a valid regex"):
        Override("a16w8", layers="block_(1")


def _model_with_one_sensitive_layer(trained):
    """`trained` with a Dense layer inserted before its logits that passes the features through and adds one
    unit, 1,000 x the sum of the features: that tensor's int8 step becomes larger than the features (which
    the next layer reads; the extra unit has a zero weight there), while 16-bit activations keep them.
    (A constant bias in the extra unit does not work: the converter's output had it folded away.)"""
    from edgecomp.core.tfenv import keras

    k = keras()
    features = trained.layers[-2].output  # the input of the logits layer, (B, F)
    width = features.shape[-1]
    sensitive = k.layers.Dense(width + 1, name="sensitive")
    passed = sensitive(features)
    kernel = np.concatenate([np.eye(width), np.full((width, 1), 1000.0)], axis=1).astype("float32")
    sensitive.set_weights([kernel, np.zeros(width + 1, "float32")])
    logits_layer = trained.layers[-1]
    logits = k.layers.Dense(logits_layer.units, name="logits_after")(passed)
    weights, bias = logits_layer.get_weights()
    model = k.Model(trained.input, logits)
    model.get_layer("logits_after").set_weights([np.r_[weights, np.zeros((1, weights.shape[1]))], bias])
    return model


def test_auto_mixed_precision_stops_at_the_first_step_within_max_drop(tiny_model, fmnist_small, tmp_path):
    model = _model_with_one_sensitive_layer(tiny_model)
    float_file = keras_to_tflite(model, tmp_path / "sensitive_float32.tflite", "float32")
    images, labels = fmnist_small.images("val"), fmnist_small.labels("val")
    result = auto_mixed_precision(float_file, tmp_path / "auto.tflite", fmnist_small.images("train", 64), images,
                                  labels, max_drop=3.0)
    drops = [result["float_accuracy"] - step["accuracy"] for step in result["steps"]]
    assert drops[0] > 5, result  # all-int8 is ruined by the sensitive layer
    assert result["met"] and drops[-1] <= 3.0, result
    assert all(drop > 3.0 for drop in drops[:-1]), result  # it stopped at the first step within max_drop
    # One group moved was enough: the layer the ranking put first and the op writing its input, the two ends of
    # the wide tensor (the sensitive layer writes it, the logits read it). In the file that tensor is 16-bit.
    assert len(result["steps"]) == 2 and any("sensitive" in name for name in result["steps"][1]["moved"]), result
    written = _kernel_layers(tmp_path / "auto.tflite")
    sixteen = [layer["name"] for layer in written if layer["activations"] == "int16"]
    assert sixteen and len(sixteen) <= 2 and set(sixteen) <= set(result["steps"][1]["moved"]), written
    assert all(layer["activations"] == "int8" for layer in written if layer["name"] not in sixteen), written
    assert not (tmp_path / "auto.trial.tflite").exists()


def test_the_plan_knows_every_quantizer_recipe():
    """The plan layer lists the override precisions without importing export: the same names."""
    from edgecomp.exporters.edge_quantizer import RECIPES
    from edgecomp.plan.precisions import OVERRIDE_PRECISIONS, PRECISIONS

    assert set(OVERRIDE_PRECISIONS) == {*RECIPES, "float"}
    assert {PRECISIONS.get(name).edge_quantizer for name in PRECISIONS.names()} - {None} == set(RECIPES)
