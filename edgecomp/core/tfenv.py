"""The one place that imports TensorFlow.

tensorflow-model-optimization needs Keras 2 (the `tf-keras` package), which TensorFlow only
uses when TF_USE_LEGACY_KERAS=1 is set before TensorFlow is first imported. Every module that
needs TensorFlow calls `tf()` / `keras()` from here, inside its functions, so that
`edgecomp --help` never pays for the import.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

from edgecomp.core.verbosity import quiet_third_party


def _prepare_environment() -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    # TensorFlow's C++ start-up chatter hides edgecomp's own progress; errors still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _imported(name: str) -> ModuleType:
    """`name` imported with Keras 2 selected; the first import runs inside `quiet_third_party`, as
    TensorFlow's C++ start-up lines (oneDNN, the CUDA stub, cuInit on a machine without a GPU) are
    written to fd 2 before any log level is read."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    _prepare_environment()
    with quiet_third_party():
        module = importlib.import_module(name)
        if name == "tensorflow":
            module.config.list_physical_devices()  # platform start-up (cuInit) while captured
    return module


def tf() -> ModuleType:
    """Returns the `tensorflow` module, imported with Keras 2 selected."""
    return _imported("tensorflow")


def keras() -> ModuleType:
    """Returns Keras 2 (`tf_keras`), the Keras that tfmot and the TFLite converter share."""
    tf()
    return _imported("tf_keras")


def tfmot() -> ModuleType:
    """Returns `tensorflow_model_optimization`, imported after Keras 2 is selected."""
    tf()
    return _imported("tensorflow_model_optimization")


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and TensorFlow so a run can be repeated."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    tf().random.set_seed(seed)
