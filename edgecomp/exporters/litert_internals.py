"""The one place edgecomp calls a private LiteRT API: the interpreter's operator list.

LiteRT has no public call that lists a model's operators with the tensors they read and write;
`Interpreter._get_ops_details()` does, and the sparsity read-back (exporters/sparsity.py) needs it to
find each conv/dense weight tensor. A LiteRT upgrade may rename or reshape it without notice, so it
is called here only, its answer is turned into `OpDetail`s and checked, and a change is a
`DependencyError` naming the installed version instead of a KeyError deep in the sparsity code.
tests/export/test_litert_internals.py calls it on a real file, so an upgrade that breaks it fails there.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgecomp.core.errors import DependencyError

TESTED_VERSION = "2.3.0"  # the ai-edge-litert release this seam was last checked against


@dataclass(frozen=True)
class OpDetail:
    """One operator of a loaded .tflite model.

    Attributes:
        index: its position in the execution plan.
        op_name: the builtin name, e.g. "CONV_2D", "FULLY_CONNECTED", "DEQUANTIZE".
        inputs: tensor indices it reads (-1 for an omitted optional input, e.g. no bias).
        outputs: tensor indices it writes.
    """

    index: int
    op_name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def litert_version() -> str:
    """The installed ai-edge-litert version, or "unknown"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ai-edge-litert")
    except PackageNotFoundError:
        return "unknown"


def _changed(what: str) -> DependencyError:
    return DependencyError(
        f"ai-edge-litert {litert_version()}: the private Interpreter._get_ops_details() {what}. edgecomp reads "
        f"weights back through it and was checked with ai-edge-litert {TESTED_VERSION}: install that version "
        f"(pip install 'ai-edge-litert=={TESTED_VERSION}') or update edgecomp/exporters/litert_internals.py.")


def ops_details(interpreter) -> list[OpDetail]:
    """Every operator of an allocated LiteRT `Interpreter`, in execution order.

    Args:
        interpreter: an `ai_edge_litert.interpreter.Interpreter` after `allocate_tensors()`.

    Returns:
        One `OpDetail` per operator.

    Raises:
        DependencyError: this LiteRT no longer has the private call, or it answers in another shape.
    """
    method = getattr(interpreter, "_get_ops_details", None)
    if not callable(method):
        raise _changed("no longer exists")
    raw = method()
    if not isinstance(raw, list):
        raise _changed(f"returned a {type(raw).__name__} instead of a list of dicts")
    try:
        # Each entry: {"index": int, "op_name": str, "inputs": int32 array, "outputs": int32 array, ...}
        return [OpDetail(int(op["index"]), str(op["op_name"]), tuple(int(i) for i in op["inputs"]),
                         tuple(int(o) for o in op["outputs"])) for op in raw]
    except (KeyError, TypeError, ValueError) as err:
        raise _changed(f"answers in another shape ({type(err).__name__}: {err})") from err


def model_op_names(path) -> set[str]:
    """The builtin operators a .tflite file holds, e.g. {"CONV_2D", "ADD"}: read without LiteRT's
    default XNNPACK delegate, so the answer is the file's ops, not a "DELEGATE" node standing for them."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(path),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    return {op.op_name for op in ops_details(interpreter)}
