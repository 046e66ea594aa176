"""The one place edgecomp reads a private tf-keras attribute: whether a model is a layer graph.

BYOT attaches exit heads to intermediate layer outputs, which exist only in a functional or
Sequential model; tf-keras has no public test that tells those from a subclassed model (whose
`call()` is opaque Python), only `Model._is_graph_network`. A tf-keras upgrade may drop or rename
it, so it is read here only and checked: a change is a `DependencyError` naming the installed
version. tests/models/test_keras_internals.py reads it on real models, so an upgrade that breaks
it fails there.
"""

from __future__ import annotations

from edgecomp.errors import DependencyError

TESTED_VERSION = "2.21.0"  # the tf-keras release this seam was last checked against
_MISSING = object()


def tf_keras_version() -> str:
    """The installed tf-keras version, or "unknown"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tf-keras")
    except PackageNotFoundError:
        return "unknown"


def is_graph_network(model) -> bool:
    """True for a functional or built Sequential tf-keras model, False for a subclassed one.

    Args:
        model: a `tf_keras.Model`.

    Raises:
        DependencyError: this tf-keras no longer has `Model._is_graph_network`, or it is not a bool.
    """
    value = getattr(model, "_is_graph_network", _MISSING)
    if isinstance(value, bool):
        return value
    what = "no longer exists" if value is _MISSING else f"is a {type(value).__name__}, not a bool"
    raise DependencyError(
        f"tf-keras {tf_keras_version()}: the private Model._is_graph_network {what}. edgecomp uses it to tell "
        f"functional models from subclassed ones and was checked with tf-keras {TESTED_VERSION}: install that "
        f"version (pip install 'tf-keras=={TESTED_VERSION}') or update edgecomp/models/keras_internals.py.")
