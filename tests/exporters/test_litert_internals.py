"""The private LiteRT call behind export/litert_internals.py, on a real .tflite file.

If a LiteRT upgrade removes or reshapes `Interpreter._get_ops_details()`, these tests fail with the
installed version in the message: pin the version named there or update the seam.
"""

from __future__ import annotations

import pytest

from edgecomp.core.errors import DependencyError
from edgecomp.exporters.litert_internals import TESTED_VERSION, OpDetail, litert_version, ops_details


def loaded(path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return interpreter


def test_ops_details_lists_each_operator_with_its_tensors(tiny_tflite):
    interpreter = loaded(tiny_tflite["float32"])
    upgrade = (f"ai-edge-litert {litert_version()} (seam checked with {TESTED_VERSION}): "
               "Interpreter._get_ops_details() changed; see edgecomp/exporters/litert_internals.py")
    ops = ops_details(interpreter)
    tensors = {d["index"]: d for d in interpreter.get_tensor_details()}
    assert ops and all(isinstance(op, OpDetail) for op in ops), upgrade
    assert [op.index for op in ops] == list(range(len(ops))), upgrade
    for op in ops:
        assert op.outputs and all(index in tensors for index in op.outputs), f"{upgrade}: {op}"
        assert all(index in tensors or index == -1 for index in op.inputs), f"{upgrade}: {op}"
    # cnn-tiny: two convolutions and two dense layers, whose weights (input 1) are stored 4-D / 2-D constants.
    convs = [op for op in ops if op.op_name == "CONV_2D"]
    denses = [op for op in ops if op.op_name == "FULLY_CONNECTED"]
    assert len(convs) == 2 and len(denses) == 2, f"{upgrade}: {[op.op_name for op in ops]}"
    produced = {index for op in ops for index in op.outputs}
    for op in convs + denses:
        weights = op.inputs[1]
        assert weights not in produced, f"{upgrade}: {op.op_name} weights are computed, not stored"
        assert len(tensors[weights]["shape"]) == (4 if op.op_name == "CONV_2D" else 2), upgrade


def test_a_changed_private_api_is_a_dependency_error_naming_the_version(tiny_tflite):
    """What an upgrade that reshapes the answer looks like: the real interpreter, its answer altered."""
    interpreter = loaded(tiny_tflite["float32"])
    real_answer = interpreter._get_ops_details()
    interpreter._get_ops_details = lambda: [{"name": op["op_name"]} for op in real_answer]  # keys renamed
    with pytest.raises(DependencyError, match=rf"ai-edge-litert {litert_version()}: .* answers in another shape"
                                              rf".*pip install 'ai-edge-litert=={TESTED_VERSION}'"):
        ops_details(interpreter)
    interpreter._get_ops_details = None  # removed
    with pytest.raises(DependencyError, match="_get_ops_details\\(\\) no longer exists"):
        ops_details(interpreter)


def test_model_op_names_are_the_files_ops_without_a_delegate_node(tiny_tflite):
    from edgecomp.exporters.litert_internals import model_op_names

    # cnn-tiny's float file: convs, pooling, a reshape and dense layers; XNNPACK would add "DELEGATE".
    names = model_op_names(tiny_tflite["float32"])
    assert {"CONV_2D", "FULLY_CONNECTED"} <= names and "DELEGATE" not in names
    assert "DELEGATE" in {op.op_name for op in ops_details(loaded(tiny_tflite["float32"]))}
