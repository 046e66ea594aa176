"""What users hand the API becomes what a plan names: arrays -> an .npz of pixels, plans and their rules."""

from __future__ import annotations

import numpy as np
import pytest

from edgecomp.api.device import connection_overrides
from edgecomp.api.inputs import dataset_reference, is_keras_model, labels_of, model_reference, pixels_of
from edgecomp.api.plans import resolve_plan
from edgecomp.core.errors import ConfigError, DatasetError, UsageError

PIXELS = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4) * 5  # (N, H, W), 0..155


@pytest.mark.parametrize("normalization, floats", [
    ("unit", PIXELS / 255.0),
    ("symmetric", PIXELS / 127.5 - 1),
    ("raw", PIXELS.astype(np.float32)),
    ({"scale": 0.5, "offset": 3.0}, PIXELS * 0.5 + 3.0),
])
def test_float_images_become_the_pixels_they_were_made_from(normalization, floats):
    assert np.array_equal(pixels_of(floats.astype(np.float32), "x", normalization), PIXELS[..., None])


def test_floats_need_their_normalization_named_and_it_must_fit():
    with pytest.raises(DatasetError, match="name the normalization"):
        pixels_of(PIXELS / 255.0, "x_train", None)
    with pytest.raises(DatasetError, match="is not 'symmetric'-normalized"):
        pixels_of(PIXELS / 255.0, "x_train", "symmetric")  # [0, 1] read as [-1, 1]: not whole pixels
    with pytest.raises(DatasetError, match=r"shape \(2, 16\)"):
        pixels_of(PIXELS.reshape(2, 16), "x_train", None)


def test_labels_as_indices_or_one_hot_rows():
    assert labels_of(np.eye(3)[[2, 0, 1]], "y", 3).tolist() == [2, 0, 1]
    with pytest.raises(DatasetError, match="2 labels for 3 images"):
        labels_of(np.array([0, 1]), "y_train", 3)
    with pytest.raises(DatasetError, match="class indices"):
        labels_of(np.array([0.5, 1, 2]), "y_train", 3)


def test_arrays_are_written_as_a_dataset_the_loader_reads(tmp_path):
    from edgecomp.data.dataset import load_dataset

    labels = np.array([1, 0])
    name = dataset_reference((PIXELS, labels, PIXELS / 255.0, labels), tmp_path, "unit", ["a", "b"])
    assert name == str(tmp_path / "inputs" / "data.npz")
    data = load_dataset(name, val_fraction=0.5)
    assert data.class_names == ["a", "b"] and data.input_shape == (4, 4, 1)
    assert np.array_equal(np.sort(data.pixels("test"), axis=0), np.sort(PIXELS[..., None], axis=0))


def test_model_and_data_of_no_supported_kind_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="not a int"):
        model_reference(3, tmp_path)
    with pytest.raises(UsageError, match="got a dict"):
        dataset_reference({"x": PIXELS}, tmp_path, None, None)
    assert model_reference("cnn-tiny", tmp_path) == "cnn-tiny" and not is_keras_model("cnn-tiny")


def test_a_keras_object_is_saved_in_the_run_folder(tmp_path):
    from edgecomp.core.tfenv import keras

    model = keras().Sequential([keras().Input((4, 4, 1)), keras().layers.Flatten(), keras().layers.Dense(2)])
    assert is_keras_model(model)
    path = model_reference(model, tmp_path)
    assert path == str(tmp_path / "inputs" / "model.keras")
    from edgecomp.models.load import load_user_model

    assert load_user_model(path).count_params() == model.count_params()


def test_a_model_file_is_loaded_as_it_is_unless_epochs_are_given(tmp_path):
    model = str(tmp_path / "mine.keras")
    assert resolve_plan(model=model).stages[0].epochs == 0
    assert resolve_plan(model=model, epochs=3).stages[0].epochs == 3
    assert resolve_plan(model=model, stages=[{"stage": "train", "epochs": 2}]).stages[0].epochs == 2
    assert resolve_plan(model="cnn-tiny").stages[0].epochs == 10  # a zoo model trains (the stage's default)


def test_a_plan_as_dict_yaml_or_plan_with_arguments_on_top(tmp_path):
    config = tmp_path / "plan.yaml"
    config.write_text("name: mine\nseed: 3\nstages: [{stage: train, epochs: 1}]\n")
    from_file = resolve_plan(config, seed=4, train_limit=100)
    assert (from_file.name, from_file.seed, from_file.dataset.train_limit) == ("mine", 4, 100)
    assert resolve_plan(from_file).model_dump() == from_file.model_dump()
    assert [s.stage for s in resolve_plan(stages=["train", "qat"]).stages] == ["train", "qat"]
    with pytest.raises(ConfigError, match=f"plan {config}"):
        resolve_plan(config, stages=[{"stage": "train", "epochz": 1}])


def test_connection_settings_are_checked():
    assert connection_overrides({"host": "pi", "port": None}) == {"host": "pi"}
    with pytest.raises(UsageError, match="unknown connection setting"):
        connection_overrides({"hots": "pi"})


@pytest.mark.parametrize("batch", [None, 2])
def test_a_pair_of_tf_datasets_becomes_the_same_npz_as_arrays(tmp_path, batch):
    from edgecomp.core.tfenv import tf

    labels = np.array([1, 0])
    floats = tf().data.Dataset.from_tensor_slices((PIXELS[..., None] / 255.0, labels))
    floats = floats.batch(batch) if batch else floats
    written = dataset_reference((floats, floats), tmp_path, "unit", None)
    with np.load(written) as archive:
        assert np.array_equal(archive["x_train"], PIXELS[..., None]) and archive["y_test"].tolist() == [1, 0]
    with pytest.raises(UsageError, match=r"pass \(train_dataset, test_dataset\)"):
        dataset_reference(floats, tmp_path, "unit", None)
