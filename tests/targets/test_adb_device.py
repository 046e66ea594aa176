"""`AdbTarget.bench` end to end, from `edgecomp bench` to report.json, through the real `adb` binary.

No phone can be attached to the machines that run the tests, and no adbd runs here. The device is a
stand-in: tests/targets/adb_device.py speaks adbd's side of the ADB wire protocol on loopback, the real
adb server reaches it with `adb connect 127.0.0.1:PORT`, and its shell runs commands with /bin/sh in a
sandbox folder (the profile's remote_dir points into that folder: the stand-in's file system is this
machine's). What runs there as benchmark_model is tests/targets/device_benchmark_model.py: it loads
and runs the model with LiteRT and prints benchmark_model's output format, op-profile tables and exit
codes (its per-op times are apportioned, not measured; see its docstring). Everything on edgecomp's
side is real: the adb client and server, the pushes, the quoting of the device command, the parsing,
the record, the clean-up.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from edgecomp.cli.main import app

STAND_IN = Path(__file__).with_name("device_benchmark_model.py")
QUICK = ["--min-runs", "5", "--min-time", "0", "--accuracy-samples", "50"]


def stand_in_profile(device, folder: Path) -> Path:
    """A target profile for the stand-in: its serial, the stand-in benchmark_model, a remote_dir in its sandbox."""
    binary = folder / "android_aarch64_benchmark_model"
    binary.write_text(f"#!{sys.executable}\n" + STAND_IN.read_text())
    binary.chmod(0o644)  # not executable here: the adapter's chmod on the device must make it so
    profile = folder / "stand-in-phone.yaml"
    profile.write_text(yaml.safe_dump({
        "name": "stand-in-phone", "kind": "adb", "description": "loopback adb stand-in (tests)",
        "adb": {"serial": device.serial, "benchmark_model": str(binary),
                "remote_dir": str(device.sandbox / "data" / "local" / "tmp" / "edgecomp")}}))
    return profile


def test_bench_on_an_adb_device_end_to_end(stand_in_device, dense_tflite, tmp_path):
    profile = stand_in_profile(stand_in_device, tmp_path)
    corrupt = tmp_path / "truncated.tflite"
    corrupt.write_bytes(dense_tflite["int8"].read_bytes()[:600])
    stand_in_sha256 = hashlib.sha256((tmp_path / "android_aarch64_benchmark_model").read_bytes()).hexdigest()
    out = tmp_path / "out"
    files = [str(dense_tflite["float32"]), str(dense_tflite["int8"]), str(corrupt)]
    result = CliRunner().invoke(app, ["bench", *files, "--target", str(profile), *QUICK, "--op-profile",
                                      "--out", str(out)])
    assert result.exit_code == 1, result.output  # the truncated file fails; the others are measured
    report = json.loads((out / "report.json").read_text())
    rows = {row["name"]: row for row in report["artifacts"]}

    for name in ("dense_float32.tflite", "dense_int8.tflite"):
        row = rows[name]
        assert row["status"] == "ok", row.get("error")
        bench = row  # the measurement and the target's notes are the entry's own fields
        assert bench["runtime"]["name"] == "benchmark_model" and bench["runtime"]["delegate"] == "xnnpack"
        assert bench["runtime"]["source"] == "profile" and bench["runtime"]["sha256"] == stand_in_sha256
        assert bench["runs"] == 5  # the device printed count=5 for --num_runs=5 --min_secs=0
        latency = bench["latency_ms"]  # whole microseconds, as benchmark_model prints them: p50 may be 0
        assert latency["mean"] > 0 and latency["min"] <= latency["p50"] <= latency["max"]
        assert bench["benchmark_model"]["model_size_mb"] == pytest.approx(
            Path(dense_tflite[name.split("_")[1].split(".")[0]]).stat().st_size / 1e6, rel=1e-4)
        assert row["accuracy_source"] == "host" and bench["accuracy_samples"] == 50  # benchmark_model has no labels
        assert 0.0 <= bench["accuracy"] <= 1.0
        profile_ops = bench["op_profile"]
        assert profile_ops["format"] == "csv"  # pulled from the device's --op_profiling_output_file
        assert "FULLY_CONNECTED" in {node["node_type"] for node in profile_ops["nodes"]}
        assert sum(t["count"] for t in profile_ops["node_types"]) == len(profile_ops["nodes"])

    markdown = (out / "report.md").read_text()
    section = markdown.split("## Per-op profile")[1].split("\n## ")[0]
    assert "### `dense_int8.tflite`" in section and "| FULLY_CONNECTED |" in section
    assert "### Node types across files" in section and "vs dense_float32.tflite" in section
    assert "Per-op profile" in (out / "report.html").read_text()
    overlay = json.loads((out / "dense_int8.op_profile.node_data.json").read_text())
    profiled_outputs = {name.split("]:")[0].lstrip("[") for name in
                        (node["name"] for node in rows["dense_int8.tflite"]["op_profile"]["nodes"])}
    assert set(overlay["results"]) == profiled_outputs  # Model Explorer keys: the nodes' output tensor names

    assert rows["truncated.tflite"]["status"] != "ok"
    assert "Benchmarking failed" in rows["truncated.tflite"]["error"]

    remote_dir = stand_in_device.sandbox / "data" / "local" / "tmp" / "edgecomp"
    assert remote_dir.is_dir() and list(remote_dir.iterdir()) == []  # the session folder was removed
    commands = stand_in_device.commands_run
    assert any(c.startswith("chmod 755 ") and c.endswith("/benchmark_model") for c in commands)
    assert any("/benchmark_model --graph=" in c and "--enable_op_profiling=true" in c for c in commands)
    assert commands[-1].startswith("rm -rf ")


def test_bench_reports_a_device_without_the_remote_folder_rights(stand_in_device, dense_tflite, tmp_path):
    """A remote_dir the device refuses (outside its sandbox here, like a folder outside /data/local/tmp
    on a phone): adb's own refusal reaches the user, and nothing is left behind."""
    profile = stand_in_profile(stand_in_device, tmp_path)
    data = yaml.safe_load(profile.read_text())
    data["adb"]["remote_dir"] = str(tmp_path / "outside-the-device")
    profile.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["bench", str(dense_tflite["float32"]), "--target", str(profile), *QUICK,
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert "adb push failed" in result.output and "couldn't create file: Permission denied" in result.output
    assert list((tmp_path / "outside-the-device").iterdir()) == []  # the session folder was removed
