"""HostTarget's load check: the runner's own loader in a subprocess of this machine's Python."""

from __future__ import annotations

from importlib.metadata import version

from edgecomp.targets.base import LoadStatus
from edgecomp.targets.host import HostTarget


def test_check_loads_says_which_artifacts_load_and_with_what(dense_tflite, tmp_path):
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"\x00" * 64)
    int8, broken, float32 = HostTarget().check_loads([dense_tflite["int8"], corrupt, dense_tflite["float32"]])
    assert (int8.artifact, int8.status, int8.detail) == ("dense_int8.tflite", LoadStatus.LOADS, "")
    assert (int8.runtime, int8.runtime_version) == ("ai_edge_litert", version("ai-edge-litert"))
    assert int8.io["input_dtype"] == "int8" and int8.io["input_shape"] == [1, 28, 28, 1] and int8.init_ms > 0
    assert int8.io["input_quantization"][0] > 0  # a real scale, read from the file
    assert float32.status is LoadStatus.LOADS and float32.io["input_dtype"] == "float32"
    assert (broken.artifact, broken.status) == ("corrupt.tflite", LoadStatus.FAILS) and broken.failed
    assert "ValueError" in broken.detail  # LiteRT's own reason, the last line of the loader's stderr


def test_check_loads_is_bounded_by_the_load_timeout(dense_tflite):
    # No Python starts and imports LiteRT within a millisecond: only the timeout can end this check.
    (check,) = HostTarget(load_timeout_s=0.001).check_loads([dense_tflite["float32"]])
    assert check.status is LoadStatus.FAILS
    assert check.detail == "loading did not finish within 0.001 s"
