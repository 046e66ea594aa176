"""`edgecomp targets list | check` through Typer's CliRunner (the sub-app on its own)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from edgecomp.cli.targets import app

runner = CliRunner()


def test_help_and_list():
    assert runner.invoke(app, ["--help"]).exit_code == 0
    result = runner.invoke(app, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("host", "rpi4", "rpi5", "rpi-zero2w", "android-arm64"):
        assert name in result.output


def test_check_host_loads_artifacts(dense_tflite, tmp_path):
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"not a model")
    good = runner.invoke(app, ["check", "host", "--artifact", str(dense_tflite["int8"])])
    assert good.exit_code == 0, good.output
    assert "loads" in good.output and "dense_int8.tflite" in good.output and "int8" in good.output
    bad = runner.invoke(app, ["check", "host", "-a", str(corrupt)])
    assert bad.exit_code == 1 and "fails" in bad.output


def test_check_unknown_target_is_a_usage_error():
    result = runner.invoke(app, ["check", "rpi44"])
    assert result.exit_code == 2


@pytest.mark.skipif(not __import__("pathlib").Path("/usr/sbin/sshd").exists(), reason="/usr/sbin/sshd is missing")
def test_check_ssh_profile_with_overrides(sshd, dense_tflite, tmp_path, monkeypatch):
    import sys

    profile = tmp_path / "loopback.yaml"
    profile.write_text(f"name: loopback\nkind: ssh\nssh:\n  host: example.invalid\n  known_hosts: {sshd.known_hosts}\n"
                       f"  python: {sys.executable}\n  connect_timeout_s: 5\n")
    monkeypatch.setenv("EDGECOMP_SSH_USER", sshd.user)
    result = runner.invoke(app, ["check", str(profile), "--host", "127.0.0.1", "--port", str(sshd.port),
                                 "--key", str(sshd.client_key), "-a", str(dense_tflite["float32"])])
    assert result.exit_code == 0, result.output
    assert "loads" in result.output and "numpy" in result.output and "ai_edge_litert" in result.output
