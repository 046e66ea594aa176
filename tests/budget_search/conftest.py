"""The tiny search plan of the end-to-end tests and how they run `edgecomp search` (a subprocess, so each
search has its own embedded Ray and Ray's signal handling is the CLI's, not pytest's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# A cnn-student teacher, 1 epoch on 1,000 real Fashion-MNIST images (cached after the first trial),
# distilled into cnn-tiny for up to 2 epochs, benchmarked on the host target.
PLAN = """\
name: search-test
model: cnn-student
dataset: {train_limit: 1000, test_limit: 300}
stages: [{stage: train, epochs: 1, batch_size: 64}]
export: {formats: [tflite], parity_samples: 100}
bench: {warmup: 2, min_runs: 20, min_time_s: 0.05, accuracy_samples: 300}
search:
  students: [cnn-tiny]
  epochs: 2
  prune_methods: [none, global]
  prune_epochs: 0
  precisions: [int8, float16]
  quantization: [ptq]
"""
CLI = "from edgecomp.cli.main import run; run()"


def _search_command(tmp_path: Path, *args: str) -> list[str]:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    return [sys.executable, "-c", CLI, "search", "--config", str(plan), "--out", str(tmp_path / "exp"), *args]


def _search(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_search_command(tmp_path, *args), capture_output=True, text=True, timeout=900)


@pytest.fixture()
def search_command():
    """search_command(tmp_path, *args) -> the argument list of `edgecomp search` on the tiny plan."""
    return _search_command


@pytest.fixture()
def search():
    """search(tmp_path, *args) -> the finished `edgecomp search` (CompletedProcess, output captured)."""
    return _search
