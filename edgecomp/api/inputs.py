"""What a user hands the API, turned into what a plan names: a model file and a dataset file.

An in-memory Keras model (Keras 3 or tf-keras) is saved to a `.keras` file in the run folder and then
built exactly as a file given on the command line is (same loader, same Keras 3 bridge, same stage
cache key: the file's bytes); numpy arrays are written to an `.npz` of uint8 pixels beside it. One code
path for the CLI and the API, and the run folder keeps the inputs a report was measured from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from edgecomp.core.errors import DatasetError, ModelLoadError, UsageError
from edgecomp.data.normalization import parse_normalization

INPUTS_FOLDER = "inputs"
ModelInput = Union[str, Path, Any]  # a zoo name, a model file or folder, or a Keras model object
DataInput = Union[None, str, Path, Sequence[np.ndarray], Sequence[Any]]  # arrays, or (train, test) tf.data


def is_keras_model(obj) -> bool:
    """True for a Keras 3 or tf-keras model object (checked by class name, so no Keras is imported)."""
    return any(cls.__name__ == "Model" and cls.__module__.split(".")[0] in {"keras", "tf_keras"}
               for cls in type(obj).__mro__)


def model_reference(model: ModelInput, run_dir: Path) -> Optional[str]:
    """What the plan's `model` says for `model`: a zoo name or a path (an in-memory model saved first).

    Raises:
        UsageError: `model` is neither a name, a path nor a Keras model.
        ModelLoadError: a Keras model that cannot be saved to a `.keras` file (e.g. a subclassed model).
    """
    if model is None or isinstance(model, str):
        return model
    if isinstance(model, Path):
        return str(model)
    if is_keras_model(model):
        return str(save_model_object(model, run_dir / INPUTS_FOLDER / "model.keras"))
    raise UsageError(f"model must be a zoo name, a model file path or a Keras model, not a {type(model).__name__}.")


def save_model_object(model, path: Path) -> Path:
    """Saves a Keras 3 or tf-keras model to `path` (.keras) with its own Keras, overwriting an older copy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        model.save(path)
    except Exception as err:  # noqa: BLE001 - Keras raises many types; all mean "this model has no file form"
        raise ModelLoadError(
            f"the model {getattr(model, 'name', '?')!r} cannot be saved as a .keras file ({type(err).__name__}: "
            f"{str(err)[:300]}); build it with the functional or Sequential API, or save it yourself and pass "
            "the path.") from err
    return path


def dataset_reference(data: DataInput, run_dir: Path, normalization, class_names) -> Optional[str]:
    """What the plan's `dataset.name` says for `data`: a name or path, or an `.npz` written from arrays.

    Args:
        data: None, a dataset name, a `.npz` path, an image folder, or (x_train, y_train, x_test, y_test).
        run_dir: the run folder; arrays are written to `run_dir/inputs/data.npz`.
        normalization: how float arrays were made from pixels (a name or {scale, offset}); see `pixels_of`.
        class_names: one name per class for arrays, or None ("0", "1", ...).

    Raises:
        UsageError: `data` is of no supported kind. DatasetError: arrays that are not images and labels.
    """
    if data is None or isinstance(data, str):
        return data
    if isinstance(data, Path):
        return str(data)
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(map(is_tf_dataset, data)):
        data = (*arrays_of_tf_dataset(data[0], "the training dataset"),
                *arrays_of_tf_dataset(data[1], "the test dataset"))
    if isinstance(data, (tuple, list)) and len(data) == 4:
        return str(write_arrays(data, run_dir / INPUTS_FOLDER / "data.npz", normalization, class_names))
    if is_tf_dataset(data):
        raise UsageError("a single tf.data.Dataset holds no test images: pass (train_dataset, test_dataset), each "
                         "of (image, label) pairs, batched or not.")
    raise UsageError("data must be a dataset name, a .npz path, an image folder, a tuple (x_train, y_train, "
                     "x_test, y_test) of numpy arrays or a pair (train_dataset, test_dataset) of tf.data "
                     f"Datasets; got a {type(data).__name__}.")


def is_tf_dataset(obj) -> bool:
    """True for a `tf.data.Dataset` (checked by class, so TensorFlow is not imported for other inputs)."""
    return any(cls.__name__ == "DatasetV2" and cls.__module__.startswith("tensorflow") for cls in type(obj).__mro__)


def arrays_of_tf_dataset(dataset, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) numpy arrays of a tf.data.Dataset of (image, label) pairs, batched or not.

    A dataset whose images have an unknown first dimension is taken as batched (`.batch(n)` makes it so).

    Raises:
        DatasetError: elements that are not (image, label) pairs.
    """
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise DatasetError(f"{what} must yield (image, label) pairs; its elements are {spec}.")
    batched = spec[0].shape.rank is not None and spec[0].shape.rank >= 3 and spec[0].shape[0] is None
    images, labels = [], []
    for image, label in dataset.as_numpy_iterator():  # (B, H, W[, C]) batched, (H, W[, C]) not
        images.append(image)
        labels.append(label)
    if not images:
        raise DatasetError(f"{what} is empty.")
    join = np.concatenate if batched else np.stack
    return join(images), join(labels)


def write_arrays(arrays: Sequence, path: Path, normalization, class_names) -> Path:
    """Writes (x_train, y_train, x_test, y_test) to an `.npz` of uint8 pixels and int64 labels."""
    x_train, y_train, x_test, y_test = (np.asarray(a) for a in arrays)
    content = {"x_train": pixels_of(x_train, "x_train", normalization),
               "y_train": labels_of(y_train, "y_train", len(x_train)),
               "x_test": pixels_of(x_test, "x_test", normalization),
               "y_test": labels_of(y_test, "y_test", len(x_test))}
    if class_names is not None:
        content["class_names"] = np.asarray([str(name) for name in class_names])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **content)
    return path


def pixels_of(images: np.ndarray, name: str, normalization) -> np.ndarray:
    """uint8 pixels (N, H, W, C) from uint8 images, or from floats made by `normalization` (inverted).

    Raises:
        DatasetError: not (N, H, W[, C]) images, floats without a normalization, or floats that are not
            pixel * scale + offset for whole pixels 0..255.
    """
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise DatasetError(f"{name} has shape {images.shape}; images are (N, H, W) or (N, H, W, C).")
    if images.dtype == np.uint8:
        return images
    if normalization is None:
        raise DatasetError(f"{name} holds {images.dtype} values: name the normalization that made them from "
                           "0..255 pixels (normalization='unit' for x / 255, 'symmetric' for x / 127.5 - 1, "
                           "'raw' for pixels as floats, or {'scale': s, 'offset': o}), or pass uint8 pixels.")
    scale, offset = parse_normalization(normalization).arrays()
    pixels = (images.astype(np.float64) - offset) / scale
    rounded = np.round(pixels)
    if images.size and (rounded.min() < 0 or rounded.max() > 255 or np.abs(pixels - rounded).max() > 0.01):
        raise DatasetError(f"{name} is not {normalization!r}-normalized 0..255 pixels (inverted, its values "
                           f"span [{pixels.min():.3g}, {pixels.max():.3g}]); name the normalization that "
                           "made it, or pass uint8 pixels.")
    return rounded.astype(np.uint8)


def labels_of(labels: np.ndarray, name: str, count: int) -> np.ndarray:
    """int64 class indices (N,) from indices or one-hot rows.

    Raises:
        DatasetError: a count other than the images', or labels that are not class indices.
    """
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = labels.argmax(axis=1)  # one-hot rows -> class indices
    labels = labels.reshape(-1)
    if len(labels) != count:
        raise DatasetError(f"{name} has {len(labels)} labels for {count} images.")
    if labels.size and (labels.min() < 0 or not np.array_equal(labels, np.round(labels))):
        raise DatasetError(f"{name} must hold class indices 0..K-1 (or one-hot rows).")
    return labels.astype(np.int64)
