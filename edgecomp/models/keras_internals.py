"""The one place edgecomp reads private tf-keras internals: whether a model is a layer graph, and
how a functional config numbers a sub-model's calls.

BYOT attaches exit heads to intermediate layer outputs, which exist only in a functional or
Sequential model; tf-keras has no public test that tells those from a subclassed model (whose
`call()` is opaque Python), only `Model._is_graph_network`. A tf-keras upgrade may drop or rename
it, so it is read here only and checked: a change is a `DependencyError` naming the installed
version. tests/models/test_keras_internals.py reads it on real models, so an upgrade that breaks
it fails there.
"""

from __future__ import annotations

from edgecomp.core.errors import DependencyError

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


def skips_first_node(layer) -> bool:
    """True when a functional config numbers `layer`'s calls from 1 instead of 0.

    A sub-model's node 0 is its own construction and is left out of its parent's config, so the
    parent's references to it start at node 1; tf-keras decides this in the private
    `functional._should_skip_first_node`, which `edgecomp.models.flatten` must agree with.

    Raises:
        DependencyError: this tf-keras no longer has that function.
    """
    try:
        from tf_keras.src.engine.functional import _should_skip_first_node
    except ImportError as err:
        raise DependencyError(
            f"tf-keras {tf_keras_version()}: the private functional._should_skip_first_node no longer exists. "
            f"edgecomp uses it to flatten nested models and was checked with tf-keras {TESTED_VERSION}: install "
            f"that version (pip install 'tf-keras=={TESTED_VERSION}') or update "
            "edgecomp/models/keras_internals.py.") from err
    return bool(_should_skip_first_node(layer))
