"""Quantization debugging: per-layer error ranking and selective float fallback."""

from edgecomp.exporters.litert_internals import ops_details
from edgecomp.exporters.qdebug import debug_accuracy_drop, keras_to_tflite_selective_int8, layer_errors


def test_layer_errors_are_ranked_worst_first(tiny_model, fmnist_small):
    rows = layer_errors(tiny_model, fmnist_small.images("train", 16), top_k=3)
    assert len(rows) == 3  # cnn-tiny has more than three quantized tensors to rank
    scores = [row["rmse_over_scale"] for row in rows]
    assert scores == sorted(scores, reverse=True) and all(row["op_name"] for row in rows)


def test_selective_fallback_keeps_named_layers_float(tiny_model, fmnist_small, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    path, float_tensors = keras_to_tflite_selective_int8(tiny_model, tmp_path / "mixed.tflite",
                                                         fmnist_small.images("train", 16), float_layers=1)
    assert len(float_tensors) == 1
    ops = {op.op_name for op in ops_details(Interpreter(model_path=str(path)))}
    assert "DEQUANTIZE" in ops  # the float layer is surrounded by (de)quantize ops
    result = debug_accuracy_drop(tiny_model, path, fmnist_small.images("test", 100), fmnist_small.labels("test", 100),
                                 fmnist_small.images("train", 16), threshold_points=-100.0, top_k=2)
    assert result["worst_layers"] and result["samples"] == 100


def test_a_bug_in_the_debuggers_calibration_keeps_its_traceback(tiny_model, fmnist_small, monkeypatch):
    """The debugger converts the model, calling edgecomp's calibration generator: a KeyError there is a
    bug of edgecomp's and must surface as itself, not as "could not convert" (an ExportError the build
    would record as a diagnosis and move on)."""
    import pytest

    from edgecomp.exporters import qdebug

    def broken_calibration(images):
        def generator():
            raise KeyError("injected bug")
            yield  # a generator, as the converter expects

        return generator

    monkeypatch.setattr(qdebug, "representative_dataset", broken_calibration)
    with pytest.raises(KeyError, match="injected bug") as raised:
        layer_errors(tiny_model, fmnist_small.images("train", 16), top_k=1)
    assert raised.traceback[-1].name == "generator"
