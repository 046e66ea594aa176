"""The device runner under tflite-runtime 2.14 + numpy 1.x, the stack many Raspberry Pi images carry.

The environment is made by scripts/make-tflite-runtime-env.sh (scripts/setup.sh and CI run it).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from edgecomp.targets.base import RUNNER_PATH

ENV_PYTHON = Path(__file__).resolve().parents[2] / ".venv-tflite-runtime" / "bin" / "python"


@pytest.mark.skipif(not ENV_PYTHON.exists(), reason=f"{ENV_PYTHON} is missing: run "
                    "scripts/make-tflite-runtime-env.sh (CI always does) to test the runner under tflite-runtime")
def test_runner_under_tflite_runtime_and_numpy1_runs_a_tf221_int8_model(dense_tflite, small_sample, tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run([str(ENV_PYTHON), str(RUNNER_PATH), str(dense_tflite["int8"]), "--sample", str(small_sample),
                           "--out", str(out), "--warmup", "2", "--min-runs", "20", "--min-time", "0",
                           "--max-runs", "50", "--runtime", "auto"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["runtime"]["name"] == "tflite_runtime" and result["runtime"]["version"].startswith("2.14")
    assert result["numpy"].split(".")[0] == "1"
    assert result["io"]["input_dtype"] == "int8" and result["runs"] >= 20
    assert result["accuracy_samples"] == 20
