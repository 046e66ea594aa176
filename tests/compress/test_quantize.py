"""Every PTQ mode converts the tiny model into a file of its own types, passes its parity rule, and
integer-I/O models are fed correctly by the benchmark runner (its accuracy matches the Keras model's)."""

import numpy as np
import pytest

from edgecomp.compress.quantize import QuantizeConfig
from edgecomp.exporters.parity import check_parity
from edgecomp.exporters.tflite import keras_to_tflite
from edgecomp.measure.precision import file_precision
from edgecomp.plan.precisions import PRECISIONS, QUANTIZE_MODES

# The TFLite converter's modes; the AI Edge Quantizer's (kind edge_quantizer*) are read back in
# tests/export/test_edge_quantizer.py and tests/run/test_edge_quantizer_build.py.
PTQ_PRECISIONS = [name for name in QUANTIZE_MODES if PRECISIONS.get(name).kind == "converter"]


@pytest.fixture(scope="module")
def ptq_files(precision_files, tiny_model, fmnist_small, tmp_path_factory):
    """The tiny model in every PTQ mode: the session's conversions (conftest.precision_files), plus
    int16x8, which only these tests use."""
    files = {name: precision_files[name] for name in PTQ_PRECISIONS if name in precision_files}
    for name in sorted(set(PTQ_PRECISIONS) - set(files)):
        files[name] = keras_to_tflite(tiny_model, tmp_path_factory.mktemp("ptq") / f"{name}.tflite", name,
                                      fmnist_small.images("train", 100))
    return files


def test_float32_is_held_closer_than_int8():
    float32, int8 = PRECISIONS.get("float32").parity, PRECISIONS.get("int8").parity
    assert float32.min_top1_agreement > int8.min_top1_agreement and float32.max_rel_abs_diff < int8.max_rel_abs_diff


@pytest.mark.parametrize("precision", PTQ_PRECISIONS)
def test_ptq_mode_makes_its_own_types_and_passes_parity(precision, ptq_files, tiny_model, fmnist_small):
    """The file's weight, activation and input types (read from its tensors by edgecomp.measure.precision)
    are the recipe's: a mode that silently produced float32 (or another mode's file) fails here."""
    from ai_edge_litert.interpreter import Interpreter

    recipe = PRECISIONS.get(precision)
    assert file_precision(ptq_files[precision]) == precision
    interpreter = Interpreter(model_path=str(ptq_files[precision]))
    assert interpreter.get_input_details()[0]["dtype"].__name__ == recipe.input_type
    assert interpreter.get_output_details()[0]["dtype"].__name__ == recipe.output_type
    images, labels = fmnist_small.images("test", 200), fmnist_small.labels("test", 200)
    parity = check_parity(ptq_files[precision], precision, tiny_model.predict(images, verbose=0), images, labels)
    assert parity["passed"], parity


@pytest.mark.parametrize("precision, dtype", [("int8_io", "int8"), ("uint8_io", "uint8"), ("int16x8", "float32")])
def test_io_dtypes(precision, dtype, ptq_files):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(ptq_files[precision]))
    assert interpreter.get_input_details()[0]["dtype"].__name__ == dtype
    assert interpreter.get_output_details()[0]["dtype"].__name__ == dtype


def test_int16x8_has_int16_activations(ptq_files):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(ptq_files["int16x8"]))
    assert "int16" in {d["dtype"].__name__ for d in interpreter.get_tensor_details()}


def test_uint8_io_accepts_raw_pixels(ptq_files, tiny_model, fmnist_small):
    """Calibrated on [0, 1] images, the uint8 input is the raw 0..255 pixel itself."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(ptq_files["uint8_io"]))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero_point = inp["quantization"]
    assert zero_point == 0 and scale == pytest.approx(1 / 255, rel=1e-3)
    images = fmnist_small.images("test", 200)
    keras_top1 = tiny_model.predict(images, verbose=0).argmax(-1)
    raw_pixels = np.round(images * 255).astype(np.uint8)  # what a camera app holds
    tflite_top1 = []
    for pixels in raw_pixels:
        interpreter.set_tensor(inp["index"], pixels[None, ...])
        interpreter.invoke()
        tflite_top1.append(int(interpreter.get_tensor(out["index"])[0].argmax()))
    assert np.mean(np.array(tflite_top1) == keras_top1) >= PRECISIONS.get("uint8_io").parity.min_top1_agreement


@pytest.mark.parametrize("precision", ["int8_io", "uint8_io"])
def test_runner_accuracy_on_integer_io_matches_keras(precision, ptq_files, tiny_model, fmnist_small, sample_npz):
    from edgecomp.plan.plan import BenchConfig
    from edgecomp.targets.host import HostTarget

    outcome = HostTarget().bench([ptq_files[precision]], sample_npz, BenchConfig(warmup=1, min_runs=3, min_time_s=0))[0]
    assert outcome.ok, outcome.error
    keras_accuracy = float(np.mean(tiny_model.predict(fmnist_small.images("test", 200), verbose=0).argmax(-1)
                                   == fmnist_small.labels("test", 200)))
    assert outcome.result["io"]["input_dtype"] == precision.split("_")[0]
    assert abs(outcome.result["accuracy"] - keras_accuracy) <= 0.03


def test_quantize_config_rejects_unknown_mode():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        QuantizeConfig(modes=["int4"])
    assert QuantizeConfig(modes=["dynamic", "int16x8"]).modes == ["dynamic", "int16x8"]


def test_export_inputs_default_to_the_quantize_stage_defaults():
    """Without a quantize stage, export calibrates and debugs exactly as a default quantize stage would."""
    from edgecomp.core.records import ExportInputs

    defaults, inputs = QuantizeConfig(), ExportInputs()
    assert inputs.calibration_samples == defaults.calibration_samples
    assert inputs.float_fallback_layers == defaults.float_fallback_layers == 0
    assert inputs.debug_drop_points == defaults.debug_drop_points
    assert inputs.debug_top_layers == defaults.debug_top_layers


def test_stage_hands_its_settings_to_export(fmnist_small, tmp_path):
    from edgecomp.compress.context import RunContext
    from edgecomp.compress.quantize import run_quantize
    from edgecomp.plan.plan import Plan

    ctx = RunContext(plan=Plan(stages=[]), data=fmnist_small, run_dir=tmp_path)
    cfg = QuantizeConfig(modes=["int8", "float16"], calibration_samples=64, float_fallback_layers=2,
                         debug_drop_points=0.5, debug_top_layers=3)
    run_quantize(ctx, cfg)
    assert ctx.ptq_modes == ["int8", "float16", "int8_mixed"]
    inputs = ctx.export_inputs
    assert (inputs.calibration_samples, inputs.float_fallback_layers) == (64, 2)
    assert (inputs.debug_drop_points, inputs.debug_top_layers) == (0.5, 3)
