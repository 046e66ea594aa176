"""Normalization: every mode's formula, the plan's checks, and uint8 I/O that takes raw pixels."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from edgecomp.core.errors import ConfigError
from edgecomp.data.normalization import IMAGENET_MEAN, IMAGENET_STD, check_uint8_io, parse_normalization
from edgecomp.plan.plan import parse_plan

PIXELS = np.array([[0, 51, 127, 255]], np.uint8)[..., None]  # (1, 4, 1) one channel


@pytest.mark.parametrize("mode,expected", [
    ("unit", PIXELS / 255.0),
    ("symmetric", PIXELS / 127.5 - 1.0),
    ("raw", PIXELS.astype(np.float64)),
    ({"scale": 0.5, "offset": -3}, PIXELS * 0.5 - 3),
])
def test_each_mode_maps_pixels_by_its_formula(mode, expected):
    np.testing.assert_allclose(parse_normalization(mode).apply(PIXELS), expected, rtol=1e-6, atol=1e-6)


def test_imagenet_is_mean_and_std_per_channel():
    rgb = np.array([[[0, 128, 255]]], np.uint8)  # (1, 1, 3)
    expected = (rgb / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(parse_normalization("imagenet").apply(rgb), expected, rtol=1e-5)


def test_numpy_and_tensorflow_formulas_agree_bit_for_bit():
    norm = parse_normalization("imagenet")
    rgb = np.random.default_rng(0).integers(0, 256, (2, 5, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(norm.apply(rgb), norm.apply_tf(rgb).numpy())


@pytest.mark.parametrize("setting,message", [
    ("unti", "Did you mean 'unit'"),
    ({"scale": 0}, "must not be 0"),
    ({"scale": [1, 2], "offset": [0, 0, 0]}, "2 values but offset has 3"),
    ({"offset": 1}, "takes `scale`"),
    ({"scale": 1, "mean": 2}, "unknown key"),
])
def test_bad_normalization_is_a_plan_error(setting, message):
    with pytest.raises(ConfigError, match=message):
        parse_plan({"dataset": {"normalization": setting}})


def test_per_channel_values_must_match_the_images_channels():
    from edgecomp.core.errors import DatasetError
    from edgecomp.data.dataset import load_dataset

    with pytest.raises(DatasetError, match="3 values per channel but the images have 1"):
        load_dataset("fashion_mnist", train_limit=20, test_limit=10, normalization="imagenet")


@pytest.mark.parametrize("mode,zero_point", [("unit", 0), ("raw", 0), ({"scale": 0.01, "offset": -1.28}, 128)])
def test_uint8_io_zero_point_where_raw_pixels_are_exact(mode, zero_point):
    assert check_uint8_io(parse_normalization(mode)) == zero_point


@pytest.mark.parametrize("mode,why", [("symmetric", "127.5 is not a whole number"), ("imagenet", "per channel")])
def test_uint8_io_is_refused_when_the_plan_is_read(mode, why):
    plan = {"dataset": {"normalization": mode},
            "stages": [{"stage": "train"}, {"stage": "quantize", "modes": ["int8", "uint8_io"]}]}
    with pytest.raises(ConfigError, match=f"uint8_io needs a uint8 input that is the raw pixel.*{why}.*int8_io"):
        parse_plan(plan)
    plan["stages"][1]["modes"] = ["int8_io"]
    assert parse_plan(plan).dataset.normalization == mode


def record_of(path, precision: str):
    from edgecomp.core.records import ArtifactRecord

    return ArtifactRecord(name=path.name, format="tflite", precision=precision, path=path.name, parity={"passed": True})


@pytest.fixture(scope="module")
def rgb_data():
    from edgecomp.data.dataset import load_dataset

    return load_dataset("fashion_mnist", train_limit=300, test_limit=100, channels=3, size=(16, 16))


@pytest.fixture(scope="module")
def rgb_model(rgb_data):
    from edgecomp.core.tfenv import keras, seed_everything

    seed_everything(0)
    layers = keras().layers
    inputs = keras().Input(rgb_data.input_shape)
    x = layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = layers.Dense(10)(layers.GlobalAveragePooling2D()(x))
    return keras().Model(inputs, outputs)


@pytest.fixture(scope="module")
def rgb_float_tflite(rgb_model, tmp_path_factory):
    from edgecomp.exporters.tflite import keras_to_tflite

    return keras_to_tflite(rgb_model, tmp_path_factory.mktemp("rgb") / "model_float32.tflite", "float32")


@pytest.mark.parametrize("mode", ["unit", "symmetric", "imagenet", "raw", {"scale": [0.01, 0.02, 0.03], "offset": 0.5}])
def test_model_card_of_each_mode_records_the_normalisation(mode, rgb_data, rgb_float_tflite, tmp_path):
    import json
    import shutil

    from edgecomp.exporters.modelcard import write_model_card

    data = replace(rgb_data, normalization=parse_normalization(mode))
    path = shutil.copy(rgb_float_tflite, tmp_path / "model_float32.tflite")
    card = json.loads(write_model_card(path, data, record_of(path, "float32")).read_text())
    assert card["normalization"]["scale"] == list(data.normalization.scale)
    assert card["normalization"]["offset"] == list(data.normalization.offset)
    assert card["how_to_feed"] == f"float32 input: {data.normalization.formula()}"


@pytest.mark.parametrize("mode,zero_point", [("unit", 0), ({"scale": 0.01, "offset": -1.0}, 100)])
def test_uint8_io_input_is_the_raw_pixel(mode, zero_point, rgb_data, rgb_model, tmp_path):
    """The exported uint8 input's scale/zero point are the normalisation's, so raw pixels fed
    unchanged give the float model's predictions."""
    import json

    from ai_edge_litert.interpreter import Interpreter

    from edgecomp.exporters.modelcard import write_model_card
    from edgecomp.exporters.tflite import keras_to_tflite
    from edgecomp.run.quant_artifacts import calibration_images

    data = replace(rgb_data, normalization=parse_normalization(mode))
    ctx = SimpleNamespace(data=data, export_inputs=SimpleNamespace(calibration_samples=100))
    path = keras_to_tflite(rgb_model, tmp_path / "model_uint8_io.tflite", "uint8_io",
                           calibration_images(ctx, "uint8_io"))
    card = json.loads(write_model_card(path, data, record_of(path, "uint8_io")).read_text())
    assert card["input"]["zero_point"] == zero_point
    assert card["input"]["scale"] == pytest.approx(data.normalization.scale[0], rel=1e-3)
    assert "feed raw pixels unchanged" in card["how_to_feed"]
    # Raw uint8 pixels straight into the interpreter give the float Keras model's answers.
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    answers = []
    for pixels in data.pixels("test"):  # (H, W, C) uint8
        interpreter.set_tensor(inp["index"], pixels[None])
        interpreter.invoke()
        answers.append(int(interpreter.get_tensor(out["index"])[0].argmax()))
    keras_outputs = rgb_model.predict(data.images("test"), verbose=0)
    assert np.mean(np.array(answers) == keras_outputs.argmax(-1)) >= 0.9
