"""The tflite-runtime 2.14 check, run for real in its own environment (.venv-tflite-runtime)."""

import pytest

from edgecomp.exporters.tflite import keras_to_tflite
from edgecomp.exporters.tflite_runtime_check import check_artifacts, runtime_python, summarize_error

needs_env = pytest.mark.skipif(runtime_python() is None,
                               reason=".venv-tflite-runtime missing; run scripts/make-tflite-runtime-env.sh")


def test_summarize_error_names_op_and_version():
    message = ("RuntimeError: Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'. An older "
               "version of this builtin might be supported.\nRegistration failed.")
    assert summarize_error(message) == "Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'"


def test_missing_env_is_a_skip_note(tiny_tflite, tmp_path):
    result = check_artifacts([tiny_tflite["float32"]], env_dir=tmp_path / "nowhere")
    assert result[str(tiny_tflite["float32"])]["skipped"] is True


@needs_env
def test_float32_and_int8_load_in_tflite_runtime_2_14(tiny_tflite):
    results = check_artifacts([tiny_tflite["float32"], tiny_tflite["int8"]])
    for path in tiny_tflite.values():
        assert results[str(path)]["ok"] is True, results[str(path)]
        assert results[str(path)]["runtime_version"] == "2.14.0"


@needs_env
def test_dynamic_range_names_the_missing_op(tiny_model, tmp_path):
    """TF 2.21's dynamic-range FULLY_CONNECTED is op version 12, which tflite-runtime 2.14 lacks."""
    path = keras_to_tflite(tiny_model, tmp_path / "dynamic.tflite", "dynamic")
    result = check_artifacts([path])[str(path)]
    assert result["ok"] is False
    assert result["missing_op"] == {"op": "FULLY_CONNECTED", "version": 12}
