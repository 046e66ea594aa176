"""Loading a user's model file (.keras, .h5 or a SavedModel folder) without running its code,
and checking that a model fits a dataset.

Which Keras wrote the file is read from the file itself (a `.keras` zip's `metadata.json`, an
`.h5` file's `keras_version` attribute), never guessed by trying loaders: Keras 3 files are read
by Keras 3 and brought into tf-keras by `edgecomp.models.bridge`; Keras 2 / tf-keras files and
SavedModel folders are read by tf-keras. Both loaders run with safe mode on (a Lambda layer's
pickled bytecode is refused).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from edgecomp.core.errors import DatasetError, ModelLoadError, first_line
from edgecomp.core.tfenv import keras
from edgecomp.models.bridge import bridge_keras3_model, noise_images


def check_model_path(path: str | Path) -> Path:
    """The path as a Path, or a ModelLoadError saying why it cannot be a model."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelLoadError(f"model file {path} does not exist. Give a .keras, .h5 or SavedModel path, "
                             "or a zoo name (see `edgecomp models`).")
    if path.is_file() and path.suffix not in {".keras", ".h5", ".hdf5"}:
        raise ModelLoadError(f"{path} is not a Keras model file: expected .keras, .h5 or a SavedModel folder.")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelLoadError(f"{path} is corrupt: a .keras file is a zip archive and this one is not. "
                             "Re-save the model with model.save('model.keras').")
    return path

def keras_version_of(path: Path) -> str | None:
    """The Keras version recorded in a model file ("3.15.1", "2.21.0"), or None when it records none.

    A SavedModel folder has no Keras 3 form (Keras 3 `model.export()` writes a plain TF graph), so
    folders are always read by tf-keras.
    """
    if path.is_dir():
        return None
    if path.suffix == ".keras":
        try:
            with zipfile.ZipFile(path) as archive:
                return str(json.loads(archive.read("metadata.json")).get("keras_version")) or None
        except (KeyError, ValueError, zipfile.BadZipFile):
            return None  # no metadata: let the loader report what is wrong
    try:
        import h5py

        with h5py.File(path, "r") as handle:
            version = handle.attrs.get("keras_version")
    except OSError:
        return None
    return version.decode() if isinstance(version, bytes) else (str(version) if version is not None else None)

def is_keras3_file(path: Path) -> bool:
    version = keras_version_of(path)
    return version is not None and version.split(".")[0] == "3"

def load_keras3_model(path: Path):
    """Loads a Keras 3 `.keras` / `.h5` file with Keras 3 (`import keras`), safe mode on."""
    import keras as keras3

    try:
        model = keras3.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - Keras raises many types for a bad file; all mean "cannot load"
        raise ModelLoadError(f"cannot load Keras 3 model {path}: {first_line(err, 300)}") from err
    if not isinstance(model, keras3.Model):
        raise ModelLoadError(f"{path} holds no Keras model ({type(model).__name__}).")
    return model

def load_tf_keras_model(path: Path):
    """Loads a Keras 2 / tf-keras file or SavedModel folder with tf-keras, safe mode on."""
    try:
        # compile=False: the optimizer state is not needed and custom losses would not load.
        model = keras().models.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - Keras raises many types for a bad file; all mean "cannot load"
        raise ModelLoadError(f"cannot load model {path}: {first_line(err, 300)}") from err
    if not isinstance(model, keras().Model):
        raise ModelLoadError(f"{path} holds a SavedModel without a Keras model; save it with Keras instead.")
    return model

def load_any_model(path: str | Path):
    """The model as its own Keras wrote it: a Keras 3 model for Keras 3 files, else tf-keras.

    Raises:
        ModelLoadError: missing, unreadable, corrupt or unsafe model file.
    """
    path = check_model_path(path)
    return load_keras3_model(path) if is_keras3_file(path) else load_tf_keras_model(path)

def load_user_model(path: str | Path, images=None):
    """Loads a model file as a tf-keras model, bringing a Keras 3 model across when needed.

    Args:
        path: a `.keras` file, a `.h5` file or a SavedModel directory.
        images: real inputs (N, H, W, C) to compare a bridged Keras 3 model on; None uses
            uniform noise in [0, 1].

    Raises:
        ModelLoadError: missing, unreadable, corrupt or unsafe model file, or a Keras 3 layer
            that cannot be brought into tf-keras (BridgeError, naming it).
    """
    model = load_any_model(path)
    if not isinstance(model, keras().Model):
        model = bridge_keras3_model(model, noise_images(model) if images is None else images).model
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
            f"dataset {data.name} has {data.num_classes} classes but model {model.name} outputs {classes} (its last "
            f"layer `{model.layers[-1].name}`); set `dataset` (the plan's dataset.name, or --dataset) to data with "
            f"{classes} classes, or give the model a last Dense layer with {data.num_classes} units."
        )
