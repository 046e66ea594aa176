"""The one place that imports TensorFlow.

tensorflow-model-optimization needs Keras 2 (the `tf-keras` package), which TensorFlow only
uses when TF_USE_LEGACY_KERAS=1 is set before TensorFlow is first imported. Every module that
needs TensorFlow calls `tf()` / `keras()` from here, inside its functions, so that
`edgecomp --help` never pays for the import.
"""

from __future__ import annotations

import os
from types import ModuleType


def _prepare_environment() -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    # TensorFlow's C++ start-up chatter hides edgecomp's own progress; errors still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tf() -> ModuleType:
    """Returns the `tensorflow` module, imported with Keras 2 selected."""
    _prepare_environment()
    import tensorflow

    return tensorflow


def keras() -> ModuleType:
    """Returns Keras 2 (`tf_keras`), the Keras that tfmot and the TFLite converter share."""
    _prepare_environment()
    import tf_keras

    return tf_keras


def tfmot() -> ModuleType:
    """Returns `tensorflow_model_optimization`, imported after Keras 2 is selected."""
    _prepare_environment()
    import tensorflow_model_optimization

    return tensorflow_model_optimization


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and TensorFlow so a run can be repeated."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    tf().random.set_seed(seed)
