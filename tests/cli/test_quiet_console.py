"""A default `edgecomp build`, run as a user runs it (a real process, its stdout and stderr
captured), prints no line from TensorFlow, absl, the TFLite converter or third-party warnings, and no
progress bar; with --verbose they come through."""

import re
import subprocess
import sys

import pytest

PLAN = """
name: quiet
model: cnn-tiny
dataset: {name: fashion_mnist, train_limit: 500, test_limit: 100}
stages:
  - {stage: train, epochs: 1, batch_size: 64, learning_rate: 0.01}
  - {stage: quantize, modes: [int8], calibration_samples: 50}
export: {formats: [tflite], parity_samples: 50}
bench: {warmup: 1, min_runs: 5, min_time_s: 0.01}
"""
# TensorFlow / absl C++ log lines (`E0000 00:00:...`, `I0000`, `W0000`), the absl preamble, the
# converter's print, LiteRT's delegate line, Python warnings.
THIRD_PARTY_LINE = re.compile(r"^[EWIF]\d{4} |absl|cuInit|cuda|fully_quantize|XNNPACK|Warning:|oneDNN", re.M)


def run_build(tmp_path, *flags):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    command = [sys.executable, "-c", "from edgecomp.cli.main import run; run()", "build", "--config", str(plan),
               "--out", str(tmp_path / "run"), "--no-cache", *flags]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_default_build_prints_no_third_party_line(tmp_path):
    output = run_build(tmp_path)
    assert THIRD_PARTY_LINE.findall(output) == [], output
    assert "exporting model_int8.tflite" in output and "model_int8.tflite" in output  # edgecomp's own lines
    # Captured output (a CI log): no progress bar, no escape code; a line per step and one per loop.
    assert "\x1b[" not in output and "━" not in output
    assert "[2/2] exporting model_int8.tflite" in output and "exported 2 files in" in output
    assert "benchmarked 2 files on host in" in output
    # What was kept off the console is in the run folder, for when it is needed.
    log = (tmp_path / "run" / "third_party.log").read_text()
    assert "fully_quantize" in log


@pytest.mark.slow
def test_verbose_build_shows_third_party_lines(tmp_path):
    output = run_build(tmp_path, "--verbose")
    assert "fully_quantize" in output and re.search(r"^[EWI]\d{4} ", output, re.M), output
