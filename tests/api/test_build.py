"""`edgecomp.build` on model objects in memory (Keras 3 and tf-keras) with numpy arrays, and the result
it returns: the artifacts, the one to ship, the report read back, pandas, Jupyter's HTML."""

from __future__ import annotations

import numpy as np
import pytest

import edgecomp
from edgecomp.core.errors import QualityGateError

TRAIN, TEST = 1000, 200
# A short benchmark: the test is about the API's path, not the numbers.
SMALL_PLAN = {"export": {"formats": ["tflite"], "parity_samples": 100},
              "bench": {"warmup": 2, "min_runs": 10, "min_time_s": 0}}
PTQ_STAGES = ["train", {"stage": "quantize", "modes": ["int8"], "calibration_samples": 100}]


@pytest.fixture(scope="module")
def arrays():
    """(x_train, y_train, x_test, y_test): real Fashion-MNIST, uint8 pixels (N, 28, 28) as a user holds them."""
    from edgecomp.data.dataset import load_dataset

    data = load_dataset("fashion_mnist", train_limit=TRAIN + 200, test_limit=TEST, seed=1)
    return (data.pixels("train")[:TRAIN, ..., 0], data.labels("train")[:TRAIN],
            data.pixels("test")[..., 0], data.labels("test"))


def small_cnn(layers, keras_module):
    inputs = keras_module.Input((28, 28, 1))
    x = layers.MaxPooling2D()(layers.Conv2D(8, 3, activation="relu")(inputs))
    x = layers.MaxPooling2D()(layers.Conv2D(16, 3, activation="relu")(x))
    return keras_module.Model(inputs, layers.Dense(10)(layers.Flatten()(x)))  # logits


def fit_briefly(model, loss, x_train, y_train):
    model.compile(optimizer="adam", loss=loss)
    model.fit(x_train[..., None], y_train, epochs=2, batch_size=32, verbose=0)
    return model


def keras_top1(model, images, labels) -> float:
    return float((np.argmax(model.predict(images, verbose=0), axis=1) == labels).mean())


@pytest.fixture(scope="module")
def keras3_build(arrays, tmp_path_factory):
    """A Keras 3 model object trained here on x / 255, built by `edgecomp.build` from uint8 arrays."""
    import keras

    x_train, y_train, x_test, y_test = arrays
    model = small_cnn(keras.layers, keras)
    fit_briefly(model, keras.losses.SparseCategoricalCrossentropy(from_logits=True), x_train / 255.0, y_train)
    expected = keras_top1(model, x_test[..., None] / 255.0, y_test)
    out = tmp_path_factory.mktemp("keras3") / "run"
    result = edgecomp.build(model, arrays, target="host", stages=PTQ_STAGES, plan=SMALL_PLAN, out=out,
                            class_names=[f"c{i}" for i in range(10)])
    return result, expected


def test_a_keras3_object_is_built_as_it_is_with_uint8_arrays(keras3_build):
    result, expected = keras3_build
    assert isinstance(result, edgecomp.BuildResult)
    train = result.stages[0]
    assert train.name == "train" and train.info["keras_version"].split(".")[0] == "3"
    assert train.info["model_bridge"]["status"] == "bridged"
    # Not retrained: the Keras accuracy the report measured is the trained object's own, on the same images.
    assert result.keras_accuracy == pytest.approx(expected, abs=1e-6)
    assert [a.name for a in result.artifacts] == ["model_float32.tflite", "model_int8.tflite"]
    assert {a.status for a in result.artifacts} == {"ok"}
    assert result.report["dataset"]["class_names"] == [f"c{i}" for i in range(10)]
    assert result.report["dataset"]["test"] == TEST


def test_the_recommended_artifact_exists_and_runs_in_litert(keras3_build, arrays):
    from ai_edge_litert.interpreter import Interpreter

    result, _ = keras3_build
    assert result.recommended is not None and result.recommended.recommended
    assert result.recommended.path.is_file() and result.recommended.path.parent.parent == result.run_dir.resolve()
    interpreter = Interpreter(model_path=str(result.recommended.path))
    interpreter.allocate_tensors()
    assert tuple(interpreter.get_input_details()[0]["shape"]) == (1, 28, 28, 1)


def test_the_result_reads_back_renders_and_converts(keras3_build):
    result, _ = keras3_build
    again = edgecomp.report.load(result.run_dir)
    assert again == result and type(again) is edgecomp.BuildResult
    frame = result.to_pandas()
    assert list(frame["name"]) == [a.name for a in result.artifacts]
    assert frame.loc[frame["recommended"], "name"].item() == result.recommended.name
    html = result._repr_html_()
    assert "<table>" in html and f"★ {result.recommended.name}" in html
    assert html.count("data:image/png;base64,") == 2  # accuracy vs size and vs latency
    assert result.to_dict() == result.report and result.to_dict() is not result.report
    result.raise_for_status()  # no gate given, nothing failed


def test_a_missed_gate_raises_for_status_as_the_cli_exits_3(keras3_build):
    result, _ = keras3_build
    files = [a.path for a in result.artifacts]
    bench = edgecomp.bench(files, data="fashion_mnist", out=result.run_dir.parent / "bench", min_runs=5,
                               min_time_s=0, accuracy_samples=100, max_size_mb=0.001)
    assert isinstance(bench, edgecomp.BenchResult) and bench.stages == ()
    assert [a.name for a in bench.artifacts] == [a.name for a in result.artifacts]
    with pytest.raises(QualityGateError, match="--max-size-mb 0.001"):
        bench.raise_for_status()
    assert type(edgecomp.report.load(bench.run_dir)) is edgecomp.BenchResult


@pytest.mark.slow
@pytest.mark.parametrize("as_tf_data", [False, True], ids=["float arrays", "tf.data"])
def test_a_tf_keras_object_with_floats_and_the_normalization_named(arrays, tmp_path, as_tf_data):
    from edgecomp.core.tfenv import keras, tf

    tf_keras = keras()
    x_train, y_train, x_test, y_test = arrays
    floats = (x_train / 127.5 - 1, y_train, x_test / 127.5 - 1, y_test)  # "symmetric"
    model = small_cnn(tf_keras.layers, tf_keras)
    fit_briefly(model, tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True), floats[0], y_train)
    expected = keras_top1(model, floats[2][..., None], y_test)
    data = floats
    if as_tf_data:  # (train, test) pipelines of (image, label), batched as a training script has them
        data = tuple(tf().data.Dataset.from_tensor_slices((images[..., None], labels)).batch(64)
                     for images, labels in [(floats[0], y_train), (floats[2], y_test)])
    result = edgecomp.build(model, data, normalization="symmetric", stages=PTQ_STAGES, plan=SMALL_PLAN,
                            out=tmp_path / "run")
    assert result.stages[0].info["keras_version"].split(".")[0] == "2"
    assert result.plan["dataset"]["normalization"] == "symmetric"
    assert result.report["dataset"]["test"] == TEST
    assert result.keras_accuracy == pytest.approx(expected, abs=1e-6)
    assert {a.status for a in result.artifacts} == {"ok"}
