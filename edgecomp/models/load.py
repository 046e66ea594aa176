"""Loading a user's model file (.keras, .h5 or a SavedModel folder) without running its code."""

from __future__ import annotations

import zipfile
from pathlib import Path

from edgecomp.errors import ModelLoadError, first_line
from edgecomp.tfenv import keras


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
