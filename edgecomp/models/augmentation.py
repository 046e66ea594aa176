"""Keras' augmentation layers (`RandomFlip`, `RandomRotation`, `RandomZoom`, `RandomContrast`...),
which Keras' own tutorials put inside the model, are identities at inference: they are left out of
the model edgecomp compresses and ships, and listed in the report.

A Keras 3 model loses them in the tf-keras bridge (`edgecomp.models.bridge`); a tf-keras model is
rebuilt without them (`drop_augmentation_layers`), its outputs compared with the original's in
inference mode. Fine-tuning augments through the train stage's `augment` settings instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgecomp.models.flatten import flatten_model

# Keras 3 and tf-keras layers that return their input unchanged at inference (training=False),
# whatever their settings; tests/models/test_augmentation.py runs each one to check it.
INFERENCE_IDENTITY_LAYERS = frozenset({
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomContrast", "RandomTranslation", "RandomBrightness",
    "RandomHeight", "RandomWidth", "RandomColorDegeneration", "RandomColorJitter", "RandomElasticTransform",
    "RandomErasing", "RandomGaussianBlur", "RandomGrayscale", "RandomHue", "RandomInvert", "RandomPerspective",
    "RandomPosterization", "RandomSaturation", "RandomSharpness", "RandomShear", "AugMix", "CutMix", "MixUp",
    "RandAugment",
})
# At inference RandomCrop crops the centre and resizes: an identity only when its size is the input's.
SIZE_DEPENDENT = "RandomCrop"
WHY_DROPPED = ("augmentation layers are identities at inference: left out of the compressed and exported model "
               "(fine-tuning augments through the train stage's `augment` settings)")


def is_inference_identity(class_name: str, config: dict, input_shape: Sequence) -> bool:
    """True for an augmentation layer that returns its (N, H, W, C) input unchanged at inference."""
    if class_name == SIZE_DEPENDENT:
        return (config.get("height"), config.get("width")) == tuple(input_shape[1:3])
    return class_name in INFERENCE_IDENTITY_LAYERS


def augmentation_only(model, input_shape: Sequence) -> list[str] | None:
    """The layer names of a sub-model made only of inference identities (a `data_augmentation`
    Sequential, as in Keras' tutorials), or None when it does anything else."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if not layers or not all(is_inference_identity(type(layer).__name__, layer.get_config(), input_shape)
                             for layer in layers):
        return None
    return [layer.name for layer in layers]


def drop_augmentation_layers(model, images: np.ndarray | None = None) -> tuple[object, list[str]]:
    """(model without its augmentation layers, their names) for a tf-keras model; the model itself
    and [] when it has none. Nested sub-models holding one are inlined (`edgecomp.models.flatten`).

    Raises:
        FlattenError: the rebuilt model's outputs differ from the original's on `images`.
    """

    def identity(layer, inputs) -> bool:
        return is_inference_identity(type(layer).__name__, layer.get_config(), tuple(inputs[0].shape))

    if not _holds_augmentation(model):
        return model, []
    result = flatten_model(model, images, drop=identity)
    return result.model, result.dropped


def _holds_augmentation(model) -> bool:
    for layer in model.layers:
        if hasattr(layer, "layers") and _holds_augmentation(layer):
            return True
        if type(layer).__name__ in INFERENCE_IDENTITY_LAYERS | {SIZE_DEPENDENT}:
            return True
    return False
