"""The quantize stage's settings reach export through ExportInputs: int8_mixed keeps the asked
number of layers float and its record names them; the int8 file is debugged."""

import pytest

from edgecomp.compress.context import RunContext
from edgecomp.compress.quantize import run_quantize
from edgecomp.plan.plan import parse_plan
from edgecomp.plan.precisions import PRECISIONS
from edgecomp.run.artifacts import export_artifacts
from edgecomp.run.quant_artifacts import ONNX_EXPORTERS, TFLITE_EXPORTERS


@pytest.mark.slow
def test_quantize_settings_reach_the_int8_exports(tiny_model, fmnist_small, tmp_path):
    plan = parse_plan({"model": "cnn-tiny", "export": {"formats": ["tflite"], "parity_samples": 100},
                       "stages": [{"stage": "train"}, {"stage": "quantize", "modes": ["int8"],
                                                        "calibration_samples": 100, "float_fallback_layers": 1,
                                                        "debug_drop_points": 0.0, "debug_top_layers": 2}]})
    ctx = RunContext(plan=plan, data=fmnist_small, run_dir=tmp_path, model=tiny_model)
    run_quantize(ctx, plan.stages[1])
    records = {r.precision: r for r in export_artifacts(ctx)}
    assert set(records) == {"float32", "int8", "int8_mixed"}
    mixed = records["int8_mixed"]
    assert mixed.status != "failed", mixed.error
    assert len(mixed.float_fallback_tensors) == 1
    assert mixed.to_dict()["float_fallback_tensors"] == mixed.float_fallback_tensors
    assert "float_fallback_tensors" not in records["int8"].to_dict()
    debug = records["int8"].quant_debug
    assert "error" not in debug, debug
    assert len(debug["worst_layers"]) <= 2


@pytest.mark.parametrize("name", PRECISIONS.names())
def test_every_recipe_has_its_exporters(name):
    """A recipe's `kind` (and its `onnx`) name an exporter: a new kind without one fails here."""
    recipe = PRECISIONS.get(name)
    assert recipe.kind in TFLITE_EXPORTERS
    assert recipe.onnx is None or recipe.onnx in ONNX_EXPORTERS
