"""`edgecomp build --target rpi4` end to end, with the rpi4 profile pointed at the loopback sshd."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from edgecomp.cli.main import app

REPO_TARGETS = Path(__file__).resolve().parents[2] / "targets"
PLAN = """
name: pi-build
model: cnn-tiny
dataset: {name: fashion_mnist, train_limit: 1500, test_limit: 200}
stages:
  # 3 epochs, as in tests/cli: after 1 the logits are near ties and int8 flips enough of them to fail parity
  - {stage: train, epochs: 3, batch_size: 64, learning_rate: 0.01}
  - {stage: quantize, modes: [int8], calibration_samples: 100}
export: {formats: [tflite], parity_samples: 100}
bench: {warmup: 2, min_runs: 10, min_time_s: 0.05}
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="/usr/sbin/sshd is missing (CI installs it)")
def test_build_for_rpi4_measures_on_the_device_over_ssh(sshd, tmp_path, monkeypatch):
    profile = yaml.safe_load((REPO_TARGETS / "rpi4.yaml").read_text())
    profile["ssh"].update(host="127.0.0.1", port=sshd.port, user=sshd.user, key_file=str(sshd.client_key),
                          known_hosts=str(sshd.known_hosts), python=sys.executable, connect_timeout_s=5)
    targets_dir = tmp_path / "targets"
    targets_dir.mkdir()
    (targets_dir / "rpi4.yaml").write_text(yaml.safe_dump(profile))
    monkeypatch.setenv("EDGECOMP_TARGETS_DIR", str(targets_dir))
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)

    result = CliRunner().invoke(app, ["build", "--config", str(plan), "--target", "rpi4",
                                      "--out", str(tmp_path / "run"), "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["target"]["name"] == "rpi4" and report["target"]["kind"] == "ssh"
    assert report["target"]["facts"]["cores"] >= 1
    assert report["plan"]["bench"]["threads"] == profile["threads"]  # the profile's default threads
    names = [a["name"] for a in report["artifacts"]]
    assert "model_float32.tflite" in names and "model_int8.tflite" in names
    for artifact in report["artifacts"]:
        assert artifact["status"] == "ok", artifact.get("error")
        assert artifact["latency_ms"]["p50"] > 0 and artifact["accuracy_samples"] == 200
        assert artifact["threads"] == profile["threads"]
