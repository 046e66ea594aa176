"""How much third-party libraries print: quiet by default, everything with `--verbose`.

TensorFlow's C++ start-up lines, absl warnings and the TFLite/onnxruntime chatter of the runner
hide edgecomp's own progress; errors still show. `--verbose` lets them through, and forwards
each runner's stderr. Set before the libraries are imported (they read the environment once).
"""

from __future__ import annotations

import logging
import os

VERBOSE_ENV = "EDGECOMP_VERBOSE"
THIRD_PARTY_LOGGERS = ("absl", "tensorflow", "tf2onnx", "onnxruntime", "h5py")


def set_verbose(verbose: bool) -> None:
    """Quiet (False) or let through (True) third-party logging, here and in runner subprocesses."""
    os.environ[VERBOSE_ENV] = "1" if verbose else "0"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if verbose else "2"
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)


def is_verbose() -> bool:
    return os.environ.get(VERBOSE_ENV) == "1"


def runner_environment() -> dict:
    """The environment of a runner subprocess: TensorFlow's C++ logging quiet unless verbose."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0" if is_verbose() else "2")
