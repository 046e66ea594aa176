"""Per-op profiles beside the runner, on the host and on an SSH board (a real sshd on loopback).

No benchmark_model binary can be downloaded here: the profiles name tests/targets/device_benchmark_model.py
as `benchmark_model:`, a stand-in that runs the model with LiteRT and prints benchmark_model's output and
op-profile tables (its per-op times are apportioned, not measured; see its docstring). The host runs it
as a subprocess; the board receives it by scp like the runner and runs it over ssh.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from edgecomp.targets.host import HostTarget
from edgecomp.targets.profiles import parse_profile
from edgecomp.targets.ssh import SshTarget

STAND_IN = Path(__file__).with_name("device_benchmark_model.py")


@pytest.fixture()
def stand_in(tmp_path) -> Path:
    binary = tmp_path / "linux_x86-64_benchmark_model"
    binary.write_text(f"#!{sys.executable}\n" + STAND_IN.read_text())
    binary.chmod(0o755)
    return binary


@pytest.fixture()
def profiling(quick_settings):
    return quick_settings.model_copy(update={"op_profile": True})


def test_host_bench_adds_an_op_profile_to_each_tflite(stand_in, dense_tflite, small_sample, profiling):
    profile = parse_profile({"name": "host-ops", "kind": "host", "benchmark_model": str(stand_in)})
    outcomes = HostTarget(profile=profile).bench([dense_tflite["float32"], dense_tflite["int8"]], small_sample,
                                                 profiling)
    for outcome in outcomes:
        assert outcome.ok, outcome.error
        assert outcome.result["runtime"]["name"] != "benchmark_model"  # the runner measured; the profiler adds
        ops = outcome.op_profile
        assert ops["format"] == "csv" and "FULLY_CONNECTED" in {node["node_type"] for node in ops["nodes"]}
        assert outcome.op_profile_binary["source"] == "profile"


def test_without_a_binary_the_measurement_stands_and_says_why(dense_tflite, small_sample, profiling, tmp_path,
                                                              monkeypatch):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv("EDGECOMP_LITERT_BINARIES_URL", f"http://127.0.0.1:{closed.getsockname()[1]}")
    monkeypatch.setenv("EDGECOMP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (outcome,) = HostTarget().bench([dense_tflite["float32"]], small_sample, profiling)
    assert outcome.ok and outcome.op_profile is None
    assert "could not download benchmark_model" in outcome.op_profile_error


def test_ssh_bench_copies_benchmark_model_and_adds_op_profiles(sshd, stand_in, dense_tflite, small_sample,
                                                               profiling):
    profile = parse_profile({"name": "board", "kind": "ssh", "ssh": {"host": "127.0.0.1"},
                             "benchmark_model": str(stand_in)})
    target = SshTarget(sshd.connection(), name="board", profile=profile)
    (outcome,) = target.bench([dense_tflite["int8"]], small_sample, profiling)
    assert outcome.ok, outcome.error
    ops = outcome.op_profile
    assert ops["format"] == "csv" and sum(t["count"] for t in ops["node_types"]) == len(ops["nodes"])
    assert "remote_cleanup_error" not in outcome.notes
