"""TFLite converters for Keras 3 models, which `TFLiteConverter.from_keras_model` was written for
tf-keras: a Keras 3 model is exported to a temporary SavedModel (`model.export`, its serving
signature fixed to the model's input shape) and converted from there.

Only models the tf-keras bridge could not rebuild reach this path (PTQ-only plans).
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from edgecomp.core.errors import ExportError, first_line
from edgecomp.core.tfenv import tf
from edgecomp.exporters.rejections import tflite_converter_errors


def is_keras3_model(model) -> bool:
    """True for a Keras 3 (`import keras`) model object; tf-keras classes live in `tf_keras.*`."""
    return type(model).__module__.startswith("keras.")

@contextlib.contextmanager
def keras3_converter(model):
    """Yields a TFLite converter for a Keras 3 model; its temporary SavedModel lives while in use."""

    with tempfile.TemporaryDirectory(prefix="edgecomp-keras3-") as folder:
        saved = Path(folder) / "saved_model"
        try:
            model.export(str(saved), format="tf_saved_model", verbose=False)
        except tflite_converter_errors() as err:  # Keras traces the model with TensorFlow, as the converter does
            raise ExportError(f"Keras 3 could not export {model.name} as a SavedModel for the TFLite converter: "
                              f"{first_line(err)}") from err
        yield tf().lite.TFLiteConverter.from_saved_model(str(saved))
