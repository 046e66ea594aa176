"""Loading a user's model file (.keras, .h5 or a SavedModel folder) without running its code,
and checking that a model fits a dataset."""

from __future__ import annotations

import zipfile
from pathlib import Path

from edgecomp.errors import DatasetError, ModelLoadError, first_line
from edgecomp.tfenv import keras


def is_model_file(name: str) -> bool:
    """A plan's `model` is a file or folder path when it looks like one, else a zoo name."""
    return "/" in name or name.endswith((".keras", ".h5", ".hdf5")) or Path(name).exists()


def load_user_model(path: str | Path):
    """Loads a Keras model with Keras' safe mode on (a Lambda layer's pickled code is refused).

    Args:
        path: a `.keras` file, a `.h5` file or a SavedModel directory.

    Raises:
        ModelLoadError: missing, unreadable, corrupt or unsafe model file.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelLoadError(f"model file {path} does not exist. Give a .keras, .h5 or SavedModel path, "
                             "or a zoo name (see `edgecomp models`).")
    if path.is_file() and path.suffix not in {".keras", ".h5", ".hdf5"}:
        raise ModelLoadError(f"{path} is not a Keras model file: expected .keras, .h5 or a SavedModel folder.")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelLoadError(f"{path} is corrupt: a .keras file is a zip archive and this one is not. "
                             "Re-save the model with model.save('model.keras').")
    try:
        # compile=False: the optimizer state is not needed and custom losses would not load.
        model = keras().models.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - Keras raises many types for a bad file; all mean "cannot load"
        raise ModelLoadError(f"cannot load model {path}: {first_line(err, 300)}") from err
    if not isinstance(model, keras().Model):
        raise ModelLoadError(f"{path} holds a SavedModel without a Keras model; save it with Keras instead.")
    return model


def check_model_fits_data(model, data) -> None:
    """Raises DatasetError when the model's input shape or class count does not fit the dataset."""
    model_input = tuple(model.input_shape[1:])
    if model_input != tuple(data.input_shape):
        raise DatasetError(
            f"dataset {data.name} has images of shape {tuple(data.input_shape)} but model {model.name} "
            f"expects {model_input}; pick a dataset of that shape or a model built for it."
        )
    classes = model.output_shape[-1]
    if classes != data.num_classes:
        raise DatasetError(
            f"dataset {data.name} has {data.num_classes} classes but model {model.name} outputs {classes}."
        )
