"""Precision labels read from real exported files, and the model card beside them."""

import json

import pytest

from edgecomp.core.errors import ModelLoadError
from edgecomp.measure.precision import describe_precision, file_precision

EXPECTED = {"float32": "float32", "float16": "float16", "dynamic": "dynamic", "int8": "int8",
            "int8_io": "int8_io", "uint8_io": "uint8_io", "onnx_float32": "float32", "onnx_int8": "int8"}


@pytest.mark.parametrize("exported", sorted(EXPECTED))
def test_each_exported_precision_reads_back_from_the_file(precision_files, exported):
    assert file_precision(precision_files[exported]) == EXPECTED[exported]


def test_a_model_card_that_agrees_names_the_recipe(precision_files, tmp_path):
    path = tmp_path / "model_qat_int8.tflite"
    path.write_bytes(precision_files["int8"].read_bytes())
    (tmp_path / "model_qat_int8.tflite.json").write_text(json.dumps({"precision": "qat_int8"}))
    described = describe_precision(path)
    assert described["precision"] == "qat_int8"
    assert described["from_file"] == "int8"


def test_a_model_card_that_contradicts_the_file_is_not_believed(precision_files, tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(precision_files["int8"].read_bytes())
    (tmp_path / "model.tflite.json").write_text(json.dumps({"precision": "float32"}))
    described = describe_precision(path)
    assert described["precision"] == "int8"
    assert described["from_card"] == "float32"
    assert "disagrees" in described["source"]


def test_a_corrupt_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "corrupt.tflite"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="not a TFLite flatbuffer"):
        file_precision(bad)
