"""`edgecomp targets list | check` through Typer's CliRunner (the sub-app on its own).

`check` must print the device facts and one line per artifact saying whether it loads, with
what runtime and input, or why not; an artifact that does not load makes the exit code 1.
"""

from __future__ import annotations

import platform
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgecomp.cli.targets import app
from edgecomp.targets.host import host_facts

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def test_help_and_list():
    help_result = runner.invoke(app, ["--help"], env=WIDE)
    assert help_result.exit_code == 0 and "list" in help_result.output and "check" in help_result.output
    result = runner.invoke(app, ["list"], env=WIDE)
    assert result.exit_code == 0, result.output
    for name in ("host", "rpi4", "rpi5", "rpi-zero2w", "android-arm64"):
        assert re.search(rf"│ {re.escape(name)}\s+│", result.output), f"{name} missing from\n{result.output}"


def test_check_host_prints_facts_and_each_artifacts_load(dense_tflite, tmp_path):
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"not a model")
    result = runner.invoke(app, ["check", "host", "-a", str(dense_tflite["int8"]),
                                 "-a", str(dense_tflite["float32"])], env=WIDE)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "host (host) is reachable"
    facts = host_facts()
    assert f"  cores            {facts['cores']}" in lines
    assert f"  python           {platform.python_version()}" in lines
    assert f"  cpu              {facts['cpu']}" in lines
    from importlib.metadata import version

    litert = f"ai_edge_litert {version('ai-edge-litert')}"
    assert re.search(rf"^  loads     dense_int8\.tflite \({litert}, input int8 \[1, 28, 28, 1\], init \d+\.\d ms\)$",
                     result.output, re.M), result.output
    assert re.search(rf"^  loads     dense_float32\.tflite \({litert}, input float32 \[1, 28, 28, 1\], ",
                     result.output, re.M), result.output

    bad = runner.invoke(app, ["check", "host", "-a", str(dense_tflite["int8"]), "-a", str(corrupt)], env=WIDE)
    assert bad.exit_code == 1, bad.output
    assert re.search(r"^  loads     dense_int8\.tflite ", bad.output, re.M)
    # LiteRT's own reason, e.g. "ValueError: Could not open '...corrupt.tflite'" / "not a valid Flatbuffer"
    failure = re.search(r"^  fails     corrupt\.tflite: (.+)$", bad.output, re.M)
    assert failure and "Error" in failure.group(1), bad.output
    assert "1 artifact(s) do not load on host: corrupt.tflite" in bad.stderr


def test_check_missing_artifact_is_named(tmp_path):
    result = runner.invoke(app, ["check", "host", "-a", str(tmp_path / "gone.tflite")], env=WIDE)
    assert result.exit_code == 1
    assert f"artifact {tmp_path / 'gone.tflite'} does not exist" in result.stderr


def test_check_unknown_target_is_a_usage_error():
    result = runner.invoke(app, ["check", "rpi44"], env=WIDE)
    assert result.exit_code == 2
    assert "rpi44" in result.stderr and "'rpi4'" in result.stderr  # the did-you-mean of the profile registry


@pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="/usr/sbin/sshd is missing")
def test_check_ssh_profile_with_overrides(sshd, dense_tflite, tmp_path, monkeypatch):
    profile = tmp_path / "loopback.yaml"
    profile.write_text(f"name: loopback\nkind: ssh\nssh:\n  host: example.invalid\n  known_hosts: {sshd.known_hosts}\n"
                       f"  python: {sys.executable}\n  connect_timeout_s: 5\n")
    monkeypatch.setenv("EDGECOMP_SSH_USER", sshd.user)
    result = runner.invoke(app, ["check", str(profile), "--host", "127.0.0.1", "--port", str(sshd.port),
                                 "--key", str(sshd.client_key), "-a", str(dense_tflite["float32"])], env=WIDE)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "loopback (ssh) is reachable"
    # The flags won over the profile's host, and the environment's user was used.
    assert f"  connection       {sshd.user}@127.0.0.1:{sshd.port}" in lines
    assert f"  python           {platform.python_version()}" in lines
    import numpy

    assert f"  numpy            {numpy.__version__}" in lines
    assert re.search(r"^  runtimes         ai_edge_litert \d[^,]*, tflite_runtime ", result.output, re.M), result.output
    assert not any("hint" in line for line in lines)  # a runtime imports: nothing to fix
    assert re.search(r"^  loads     dense_float32\.tflite \(ai_edge_litert \S+, input float32 \[1, 28, 28, 1\], ",
                     result.output, re.M), result.output


def test_list_reads_in_80_columns():
    """At 80 columns every cell is whole (it was `conn…`, `xnnp…`): the compact layout drops the
    borders and the kind, and puts the connection under the name."""
    result = runner.invoke(app, ["list"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    table = result.output.split("searched:")[0]
    assert "…" not in table and max(len(line) for line in table.splitlines()) <= 80, table
    for whole in ("ssh pi@raspberrypi.local:22", "xnnpack", "tflite_runtime", "rpi4-emulated"):
        assert whole in table
