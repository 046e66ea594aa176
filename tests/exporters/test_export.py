"""Exports run in their real runtimes (LiteRT, onnxruntime) and are compared with Keras."""

import numpy as np
import pytest

from edgecomp.core.errors import ExportError
from edgecomp.exporters.onnx import keras_to_onnx
from edgecomp.exporters.parity import check_parity, run_tflite
from edgecomp.exporters.tflite import keras_to_tflite


def test_float32_tflite_matches_keras(tiny_model, tiny_tflite, fmnist_small):
    images = fmnist_small.images("test", 100)
    parity = check_parity(tiny_tflite["float32"], "float32", tiny_model.predict(images, verbose=0), images)
    assert parity["passed"] and parity["top1_agreement"] == 1.0
    assert parity["max_abs_diff"] < 1e-4


@pytest.fixture(scope="module")
def teacher_tflite(fmnist_small, tmp_path_factory):
    """float32 and int8 .tflite files of cnn-teacher (391k weights, untrained: size and dtypes do not
    depend on training). Big enough that the flatbuffer's fixed few KB do not hide int8's 4x; on
    cnn-tiny (7k weights) the ratio is only ~2.7."""
    from edgecomp.core.tfenv import seed_everything
    from edgecomp.models.zoo import build_zoo_model

    seed_everything(0)
    model = build_zoo_model("cnn-teacher", fmnist_small.input_shape, fmnist_small.num_classes)
    folder = tmp_path_factory.mktemp("teacher")
    return {"float32": keras_to_tflite(model, folder / "teacher_float32.tflite", "float32"),
            "int8": keras_to_tflite(model, folder / "teacher_int8.tflite", "int8", fmnist_small.images("train", 100))}


def test_int8_tflite_is_int8_and_about_four_times_smaller(teacher_tflite):
    from edgecomp.exporters.sparsity import tflite_sparsity

    float_weights = tflite_sparsity(teacher_tflite["float32"])["layers"]
    int8_weights = tflite_sparsity(teacher_tflite["int8"])["layers"]
    assert len(float_weights) == 5 and set(int8_weights) == set(float_weights)  # every conv and dense layer
    assert {layer["dtype"] for layer in float_weights.values()} == {"float32"}
    assert {layer["dtype"] for layer in int8_weights.values()} == {"int8"}
    ratio = teacher_tflite["float32"].stat().st_size / teacher_tflite["int8"].stat().st_size
    # A quarter of the bytes per weight; int32 biases, scales and the graph keep it a little under 4 (3.87 here).
    assert 3.6 < ratio < 4.0, ratio


def test_int8_tflite_agrees_with_keras_on_real_images(tiny_model, tiny_tflite, fmnist_small):
    images = fmnist_small.images("test", 100)
    parity = check_parity(tiny_tflite["int8"], "int8", tiny_model.predict(images, verbose=0), images)
    assert parity["passed"], parity
    assert parity["top1_agreement"] > 0.9


def test_onnx_matches_keras(tiny_model, fmnist_small, tmp_path):
    path = keras_to_onnx(tiny_model, tmp_path / "m.onnx")
    images = fmnist_small.images("test", 64)
    parity = check_parity(path, "float32", tiny_model.predict(images, verbose=0), images)
    assert parity["passed"] and parity["max_abs_diff"] < 1e-4
    assert not (tmp_path / "m.onnx.partial").exists()


def test_parity_trips_on_a_broken_export(tiny_model, fmnist_small, tmp_path):
    """An export of a different model (weights perturbed by up to 50%) must fail the float32 parity check."""
    from edgecomp.core.tfenv import keras

    broken = keras().models.clone_model(tiny_model)
    rng = np.random.default_rng(1)
    broken.set_weights([(w * rng.uniform(0.5, 1.5, size=w.shape)).astype(np.float32)
                        for w in tiny_model.get_weights()])
    path = keras_to_tflite(broken, tmp_path / "broken.tflite", "float32")
    images = fmnist_small.images("test", 100)
    parity = check_parity(path, "float32", tiny_model.predict(images, verbose=0), images)
    assert not parity["passed"]
    assert parity["max_abs_diff"] > parity["thresholds"]["max_abs_diff"]


def test_int8_without_calibration_images_is_an_error(tiny_model, tmp_path):
    with pytest.raises(ExportError, match="calibration images"):
        keras_to_tflite(tiny_model, tmp_path / "x.tflite", "int8", calibration_images=None)
    assert not (tmp_path / "x.tflite").exists()


def test_run_tflite_dequantizes_int8_outputs(tiny_tflite, fmnist_small):
    outputs = run_tflite(tiny_tflite["int8"], fmnist_small.images("test", 5))
    assert outputs.dtype == np.float32 and outputs.shape == (5, 10)


def test_non_finite_outputs_fail_parity(tiny_model, fmnist_small, tmp_path):
    from edgecomp.core.tfenv import keras

    broken = keras().models.clone_model(tiny_model)
    broken.set_weights([np.full(w.shape, np.nan, np.float32) for w in tiny_model.get_weights()])
    path = keras_to_tflite(broken, tmp_path / "nan.tflite", "float32")
    images = fmnist_small.images("test", 10)
    parity = check_parity(path, "float32", tiny_model.predict(images, verbose=0), images)
    assert parity["passed"] is False and parity["non_finite_outputs"] is True


def test_sparse_weights_make_a_pruned_float_file_smaller_and_keep_parity(tiny_model, fmnist_small, tmp_path):
    from edgecomp.core.tfenv import keras

    pruned = keras().models.clone_model(tiny_model)
    weights = []
    for w in tiny_model.get_weights():
        w = w.copy()
        if w.ndim >= 2:  # kernels: zero the 80% smallest magnitudes
            w[np.abs(w) < np.quantile(np.abs(w), 0.8)] = 0
        weights.append(w)
    pruned.set_weights(weights)
    dense = keras_to_tflite(pruned, tmp_path / "dense.tflite", "float32")
    sparse = keras_to_tflite(pruned, tmp_path / "sparse.tflite", "float32", sparse_weights=True)
    assert sparse.stat().st_size < dense.stat().st_size
    images = fmnist_small.images("test", 50)
    assert check_parity(sparse, "float32", pruned.predict(images, verbose=0), images)["passed"]
