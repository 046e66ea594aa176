"""The timing-floor model ships as a file: it must be what the generator makes, and it must run."""

import numpy as np

from edgecomp.measure.timing_floor import TIMING_FLOOR_PATH, timing_floor_bytes


def test_committed_timing_floor_is_what_the_generator_makes():
    assert TIMING_FLOOR_PATH.read_bytes() == timing_floor_bytes(), (
        "regenerate with `python -m edgecomp.measure.timing_floor` and commit the file")


def test_timing_floor_computes_identity():
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(TIMING_FLOOR_PATH))
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    assert list(detail["shape"]) == [1, 1]
    interpreter.set_tensor(detail["index"], np.array([[3.5]], np.float32))
    interpreter.invoke()
    assert interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).tolist() == [[3.5]]
