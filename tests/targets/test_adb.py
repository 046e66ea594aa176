"""AdbTarget: the benchmark_model log parser on transcripts, and the real adb binary with no phone.

No Android device can be attached to the machines that run these tests, so running
benchmark_model itself is not tested here; everything up to that point uses the real `adb`
binary (its own "no devices" answer), and the parser is checked against transcripts whose
headers say where their format comes from. Nothing is mocked.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from edgecomp.core.errors import TargetError
from edgecomp.targets.adb import (
    AdbTarget,
    benchmark_model_arguments,
    benchmark_model_memory,
    parse_benchmark_model_output,
)
from edgecomp.targets.base import LoadStatus
from edgecomp.targets.profiles import AdbConnection

TRANSCRIPTS = Path(__file__).parent / "transcripts"


def transcript(name: str) -> str:
    """A transcript without its '# ' header comment."""
    lines = (TRANSCRIPTS / name).read_text().splitlines()
    return "\n".join(line for line in lines if not line.startswith("# "))


def test_every_transcript_says_where_it_came_from():
    for path in TRANSCRIPTS.glob("*.txt"):
        assert path.read_text().startswith("# "), f"{path.name} needs a header comment naming its source"


def test_classic_output_without_percentiles():
    parsed = parse_benchmark_model_output(transcript("classic_no_percentiles.txt"))
    assert parsed["latency_ms"] == pytest.approx({"mean": 266.473, "std": 0.419, "min": 265.837, "max": 268.116})
    assert parsed["runs"] == 50 and parsed["warmup_runs"] == 2
    assert parsed["init_ms"] == pytest.approx(20.283)
    assert parsed["first_inference_ms"] == pytest.approx(339.304)
    assert parsed["warmup_mean_ms"] == pytest.approx(302.814)
    assert parsed["model_size_mb"] == pytest.approx(11.983)
    assert parsed["memory_init_mb"] == pytest.approx(2.84375)
    assert parsed["memory_overall_mb"] == pytest.approx(4.16797)
    assert parsed["peak_memory_mb"] is None


def test_info_prefixed_output_with_percentiles_and_peak_memory():
    parsed = parse_benchmark_model_output(transcript("info_percentiles_peak_memory.txt"))
    assert parsed["latency_ms"] == pytest.approx({"mean": 0.14693, "std": 0.028, "min": 0.126, "max": 2.210,
                                                  "p5": 0.130, "p50": 0.143, "p95": 0.171})
    assert parsed["runs"] == 13574 and parsed["warmup_runs"] == 3316
    assert parsed["init_ms"] == pytest.approx(3.912)
    assert parsed["peak_memory_mb"] == pytest.approx(9.32422)
    assert parsed["memory_overall_mb"] == pytest.approx(2.12109)


def test_benchmark_model_memory_becomes_the_runners_fields_in_decimal_mb():
    """benchmark_model prints kB / 1024 as "MB" (2.84375 = 2,912 kB); reports use 10^6 bytes."""
    memory = benchmark_model_memory(parse_benchmark_model_output(transcript("classic_no_percentiles.txt")))
    assert memory["model_load_mb"] == pytest.approx(2912 * 1024 / 1e6)
    assert memory["model_peak_mb"] == pytest.approx(4.16797 * 2**20 / 1e6)
    assert memory["process_peak_mb"] is None  # that transcript has no periodic-monitoring peak
    assert memory["memory"]["method"] == "benchmark_model"


def test_logcat_lines_single_warmup_and_scientific_notation():
    parsed = parse_benchmark_model_output(transcript("logcat_scientific_notation.txt"))
    assert parsed["latency_ms"]["mean"] == pytest.approx(1240.27)
    assert parsed["latency_ms"]["p50"] == pytest.approx(1239.807)
    assert parsed["latency_ms"]["min"] == pytest.approx(1238.588)
    assert parsed["warmup_runs"] == 1 and parsed["warmup_mean_ms"] == pytest.approx(1357.6)
    assert parsed["runs"] == 50 and parsed["memory_overall_mb"] == pytest.approx(109.832)


def test_failed_run_raises_with_the_last_error_line():
    with pytest.raises(ValueError, match="Benchmarking failed"):
        parse_benchmark_model_output(transcript("failed_missing_model.txt"))
    with pytest.raises(ValueError, match="no output"):
        parse_benchmark_model_output("")


def test_benchmark_model_arguments_follow_the_profile(quick_settings):
    argv = benchmark_model_arguments("/d/benchmark_model", "/d/m.tflite", quick_settings, "gpu")
    assert argv[:3] == ["/d/benchmark_model", "--graph=/d/m.tflite", "--num_threads=1"]
    assert "--use_gpu=true" in argv and "--warmup_runs=2" in argv and "--num_runs=20" in argv
    assert "--report_peak_memory_footprint=true" in argv
    assert "--use_xnnpack=false" in benchmark_model_arguments("b", "g", quick_settings, "none")


@pytest.fixture()
def private_adb_server(monkeypatch):
    """The real adb, talking to its own server on a free port, which is stopped afterwards."""
    if shutil.which("adb") is None:
        pytest.skip("the adb binary is missing: install Debian's 'adb' package (CI does)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", port)
    yield port
    subprocess.run(["adb", "kill-server"], capture_output=True, timeout=30)


def test_real_adb_without_a_device_is_a_clear_target_error(private_adb_server):
    with pytest.raises(TargetError, match="adb cannot find an Android device.*USB debugging"):
        AdbTarget(AdbConnection()).check()
    with pytest.raises(TargetError, match="adb cannot find device 'R58M12345'"):
        AdbTarget(AdbConnection(serial="R58M12345")).check()


def test_missing_benchmark_model_binary_is_named_before_any_device_work(tmp_path, small_sample, quick_settings,
                                                                        monkeypatch):
    """A configured path that does not exist, or (none configured) a download that cannot happen, stops
    the run before adb is asked anything: the adb named here does not exist."""
    no_adb = str(tmp_path / "no-adb")
    target = AdbTarget(AdbConnection(benchmark_model=str(tmp_path / "android_aarch64_benchmark_model"), adb=no_adb))
    with pytest.raises(TargetError, match="the profile's adb.benchmark_model\\) does not exist; fix the path"):
        target.bench([tmp_path / "m.tflite"], small_sample, quick_settings)
    with socket.socket() as closed:  # a loopback port nothing listens on: "offline"
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv("EDGECOMP_LITERT_BINARIES_URL", f"http://127.0.0.1:{closed.getsockname()[1]}")
    monkeypatch.setenv("EDGECOMP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(TargetError, match="could not download benchmark_model from .*android_arm64/benchmark_model"):
        AdbTarget(AdbConnection(adb=no_adb)).bench([tmp_path / "m.tflite"], small_sample, quick_settings)


def test_missing_adb_binary_is_a_clear_target_error(tmp_path):
    with pytest.raises(TargetError, match="install Android platform tools"):
        AdbTarget(AdbConnection(adb=str(tmp_path / "no-adb"))).check()


def test_check_loads_says_what_it_cannot_check_without_running_benchmark_model(dense_tflite, tmp_path):
    """No phone is needed: the load check never runs anything on the device, and says so."""
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"\x00" * 64)
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"\x00")  # never opened: the suffix alone rules it out
    target = AdbTarget(AdbConnection(adb=str(tmp_path / "no-adb")))  # adb is not even needed
    good, broken, wrong_format = target.check_loads([dense_tflite["int8"], corrupt, onnx])
    assert (good.artifact, good.status) == ("dense_int8.tflite", LoadStatus.NOT_TRIED) and not good.failed
    assert "not loaded on the device" in good.detail and "loads on this host with ai_edge_litert" in good.detail
    assert good.io["input_dtype"] == "int8"
    assert broken.status is LoadStatus.FAILS and "does not load even with this host's LiteRT" in broken.detail
    assert wrong_format.status is LoadStatus.FAILS and "runs .tflite files only" in wrong_format.detail
