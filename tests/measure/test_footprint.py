"""Predicted footprint: hand-computed liveness on a small ONNX graph, weights of real exports,
and the measured footprint of a large float model against a small int8 one."""

import numpy as np
import pytest

from edgecomp.measure.footprint import predict_memory
from edgecomp.plan.plan import BenchConfig

FAST = BenchConfig(warmup=2, min_runs=20, min_time_s=0.05)


def test_activations_are_the_peak_of_live_tensors_in_op_order(tmp_path):
    """X -Relu-> A -Relu-> B; Add(A, B) -> C; Mul(C, W) -> Y, each (1, 1000) float32 = 4,000 bytes.

    Live bytes per op: Relu1 {X, A} 8,000; Relu2 {A, B} 8,000; Add {A, B, C} 12,000;
    Mul {C, Y} 8,000 (W is a weight). Peak 12,000 bytes; weights 4,000 bytes.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def value(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 1000])

    nodes = [helper.make_node("Relu", ["X"], ["A"]), helper.make_node("Relu", ["A"], ["B"]),
             helper.make_node("Add", ["A", "B"], ["C"]), helper.make_node("Mul", ["C", "W"], ["Y"])]
    weights = numpy_helper.from_array(np.ones(1000, np.float32), "W")
    graph = helper.make_graph(nodes, "liveness", [value("X")], [value("Y")], initializer=[weights])
    path = tmp_path / "liveness.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    predicted = predict_memory(path)
    assert predicted["weights_mb"] == pytest.approx(4000 / 1e6)
    assert predicted["activations_mb"] == pytest.approx(12000 / 1e6)
    assert predicted["total_mb"] == pytest.approx(16000 / 1e6)
    assert "live" in predicted["method"]


def test_predicted_weights_follow_the_precision(tiny_model, precision_files):
    params = tiny_model.count_params()  # BN folds into the convs, so the file holds a little less
    float32 = predict_memory(precision_files["float32"])["weights_mb"]
    int8 = predict_memory(precision_files["int8"])["weights_mb"]
    float16 = predict_memory(precision_files["float16"])
    assert 0.9 * params * 4 / 1e6 < float32 <= params * 4 / 1e6
    assert int8 < float32 / 2.5
    # float16 weights are expanded to float32 once at load: both copies are held.
    assert float16["weights_mb"] == pytest.approx(1.5 * float32, rel=0.05)
    assert "float copies" in float16["method"]
    onnx = predict_memory(precision_files["onnx_float32"])
    assert onnx["weights_mb"] == pytest.approx(float32, rel=0.05)


def _wide_dense_tflite(path, units, precision, calibration):
    from edgecomp.core.tfenv import keras
    from edgecomp.exporters.tflite import keras_to_tflite

    layers = keras().layers
    inputs = keras().Input(shape=(28, 28, 1))
    hidden = layers.Dense(units, activation="relu")(layers.Flatten()(inputs))
    model = keras().Model(inputs, layers.Dense(10)(hidden))
    return keras_to_tflite(model, path, precision, calibration_images=calibration)


def test_a_13_mb_float_model_measures_larger_than_a_70_kb_int8_one_by_its_weights(
        tmp_path, fmnist_small, sample_npz):
    from edgecomp.targets.host import HostTarget

    calibration = fmnist_small.images("train", 32)
    big = _wide_dense_tflite(tmp_path / "wide_float32.tflite", 4096, "float32", None)
    small = _wide_dense_tflite(tmp_path / "narrow_int8.tflite", 64, "int8", calibration)
    assert 12e6 < big.stat().st_size < 14e6 and 40e3 < small.stat().st_size < 80e3
    outcomes = HostTarget().bench([big, small], sample_npz, FAST)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    big_result, small_result = (o.result for o in outcomes)
    weights_difference = predict_memory(big)["weights_mb"] - predict_memory(small)["weights_mb"]
    assert weights_difference > 12
    assert big_result["model_load_mb"] - small_result["model_load_mb"] >= weights_difference
    assert big_result["model_peak_mb"] - small_result["model_peak_mb"] >= weights_difference
