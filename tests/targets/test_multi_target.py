"""`edgecomp bench FILES --target A --target B --target C`: each file on each target, one report.

The targets are this host, the loopback stand-in Android device (tests/targets/adb_device.py through
the real adb; its benchmark_model is the stand-in described in device_benchmark_model.py) and an SSH
board nobody answers for (a closed loopback port), which must become a failed column, not a crash.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from edgecomp.cli.main import app

STAND_IN = Path(__file__).with_name("device_benchmark_model.py")
QUICK = ["--min-runs", "5", "--min-time", "0", "--accuracy-samples", "50"]


@pytest.mark.slow
def test_each_file_on_each_target_with_one_target_down(stand_in_device, dense_tflite, tmp_path):
    binary = tmp_path / "benchmark_model"
    binary.write_text(f"#!{sys.executable}\n" + STAND_IN.read_text())
    phone = tmp_path / "phone.yaml"
    phone.write_text(yaml.safe_dump({"name": "phone", "kind": "adb", "adb": {
        "serial": stand_in_device.serial, "benchmark_model": str(binary),
        "remote_dir": str(stand_in_device.sandbox / "data" / "local" / "tmp" / "edgecomp")}}))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    board = tmp_path / "board.yaml"
    board.write_text(yaml.safe_dump({"name": "board", "kind": "ssh", "ssh": {
        "host": "127.0.0.1", "port": port, "connect_timeout_s": 3, "known_hosts": str(tmp_path / "known_hosts")}}))
    out = tmp_path / "out"
    files = [str(dense_tflite["float32"]), str(dense_tflite["int8"])]
    result = CliRunner().invoke(app, ["bench", *files, "--target", "host", "--target", str(phone),
                                      "--target", str(board), *QUICK, "--out", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert "target board failed: cannot reach" in result.output

    combined = json.loads((out / "report.json").read_text())
    host, phone_column, board_column = combined["targets"]
    assert [t["name"] for t in combined["targets"]] == ["host", "phone", "board"]
    assert [t["status"] for t in combined["targets"]] == ["ok", "ok", "failed"]
    assert "cannot reach 127.0.0.1" in board_column["error"]
    for name in ("dense_float32.tflite", "dense_int8.tflite"):
        # the phone's benchmark_model prints whole microseconds: this tiny model's median may be 0
        assert host["artifacts"][name]["p50_ms"] > 0 and phone_column["artifacts"][name]["p50_ms"] >= 0
        assert phone_column["artifacts"][name]["accuracy_source"] == "host"
        assert combined["host_accuracy"][name] == host["artifacts"][name]["accuracy"]
    assert (out / "host" / "report.json").is_file() and (out / "phone" / "report.json").is_file()

    markdown = (out / "report.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| artifact"))
    for group in ("host", "phone", "board"):
        assert all(f"{group} {column}" in header for column in ("p50 ms", "model MB", "accuracy", "vs host"))
    int8_row = next(line for line in markdown.splitlines() if line.startswith("| dense_int8.tflite"))
    cells = [cell.strip() for cell in int8_row.strip("|").split("|")]
    assert cells[1 + 4 * 2:] == ["failed"] * 4  # the board's group
    assert cells[1 + 4 + 3] == "= host" and cells[4] == "+0.00 pt"  # phone: host's accuracy; host vs itself
    assert "target board failed:" in markdown


@pytest.mark.slow  # two benches of two files on two targets: ~20 s on an idle 2-core machine
def test_gates_apply_on_every_target_and_one_file_is_named_for_all(dense_tflite, tmp_path):
    """Two host profiles (the second with 2 threads, so its own name and folder): an accuracy gate no file
    meets is missed on both targets (exit 3, each miss named with its target); without gates the combined
    report names the file to ship on every target."""
    second = tmp_path / "host-b.yaml"
    second.write_text(yaml.safe_dump({"name": "host-b", "kind": "host", "threads": 2}))
    files = [str(dense_tflite["float32"]), str(dense_tflite["int8"])]
    out = tmp_path / "gated"
    result = CliRunner().invoke(app, ["bench", *files, "--target", "host", "--target", str(second), *QUICK,
                                      "--out", str(out), "--min-accuracy", "99.9"], env={"COLUMNS": "200"})
    assert result.exit_code == 3, result.output
    combined = json.loads((out / "report.json").read_text())
    assert combined["gates"]["min_accuracy"] == 99.9 and combined["recommended"]["name"] is None
    assert {line.split(":")[0] for line in combined["gate_violations"]} == {"on host", "on host-b"}
    assert json.loads((out / "host-b" / "report.json").read_text())["gates"]["min_accuracy"] == 99.9

    import edgecomp

    combined = edgecomp.bench_on_targets(files, ["host", str(second)], out=tmp_path / "open", min_runs=5,
                                         min_time_s=0, accuracy_samples=50)
    assert combined["gate_violations"] == [] and combined["recommended"]["rule"] == "within_1pt"
    assert combined["recommended"]["name"] in {"dense_float32.tflite", "dense_int8.tflite"}
    assert f"| ★ {combined['recommended']['name']} |" in (tmp_path / "open" / "report.md").read_text()
    with pytest.raises(edgecomp.core.errors.UsageError, match="target host is given twice"):
        edgecomp.bench_on_targets(files, ["host", "host"], out=tmp_path / "twice")
