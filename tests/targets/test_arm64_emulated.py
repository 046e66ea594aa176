"""`edgecomp build --target rpi4-emulated`: a Pi's ARM software stack, reached over SSH like a Pi.

The board is scripts/make-arm64-pi.sh's Debian bookworm arm64 (Python 3.11, ai-edge-litert with numpy 2,
tflite-runtime 2.14 with Debian's numpy 1.24) under qemu-aarch64 -cpu cortex-a72, behind a real sshd on
127.0.0.1 whose sessions find the emulated `python3-arm64` on PATH. Every file of a small build (sparse
pruned float32, int8, int8 I/O, uint8 I/O, dynamic range) must load on the ARM runtimes and give exactly
the host's accuracy with the same runtime on the same images, except the one op tflite-runtime 2.14
lacks, which must be a failed row naming it.

Slow (emulation): about 5 minutes. Marked `arm64`; skipped when the emulated Pi is not built, unless
EDGECOMP_ARM64=1 lets the test build it (about 1.5 minutes, downloads from Debian and PyPI).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from edgecomp.cli.main import app

REPO = Path(__file__).resolve().parents[2]
PI_DIR = Path(os.environ.get("EDGECOMP_ARM64_PI") or Path.home() / ".cache/edgecomp/arm64-pi")
SAMPLES = 300
# Within 0.1 percentage point; with 300 images one differing image is 0.33 points, so this asks for
# identical predictions.
AGREEMENT_POINTS = 0.1

pytestmark = [pytest.mark.arm64, pytest.mark.slow]

PLAN = f"""
name: arm64-check
model: cnn-student
dataset: {{name: fashion_mnist, train_limit: 3000}}
stages:
  - {{stage: train, epochs: 2, batch_size: 64}}
  - {{stage: prune, method: global, sparsity: 0.5, epochs: 1}}
  - {{stage: quantize, modes: [int8, int8_io, uint8_io, dynamic], calibration_samples: 100}}
export: {{formats: [tflite], parity_samples: 100}}
bench: {{warmup: 1, min_runs: 3, min_time_s: 0, accuracy_samples: {SAMPLES}}}
"""


@pytest.fixture(scope="module")
def arm64_pi() -> Path:
    """The emulated Pi, reused (and rebuilt by the script when its recipe changed)."""
    if not (PI_DIR / "recipe.sha256").exists() and os.environ.get("EDGECOMP_ARM64") != "1":
        pytest.skip(f"no emulated Pi in {PI_DIR}: run scripts/make-arm64-pi.sh (about 1.5 min) or set "
                    "EDGECOMP_ARM64=1 to let this test build it")
    proc = subprocess.run(["bash", str(REPO / "scripts/make-arm64-pi.sh")], capture_output=True, text=True,
                          env=dict(os.environ, EDGECOMP_ARM64_PI=str(PI_DIR)))
    assert proc.returncode == 0, f"make-arm64-pi.sh failed: {proc.stderr[-2000:]}"
    return PI_DIR


@pytest.fixture(scope="module")
def emulated_targets(arm64_pi, start_sshd, tmp_path_factory):
    """The two emulated profiles, pointed at a loopback sshd whose PATH holds the Pi's pythons."""
    folder = tmp_path_factory.mktemp("arm64-sshd")
    with start_sshd(folder, extra_config=[f"SetEnv PATH={arm64_pi / 'bin'}:/usr/local/bin:/usr/bin:/bin"]) as sshd:
        targets = tmp_path_factory.mktemp("targets")
        for name in ("rpi4-emulated", "rpi4-emulated-tflite-runtime"):
            profile = yaml.safe_load((REPO / "targets" / f"{name}.yaml").read_text())
            profile["ssh"].update(port=sshd.port, user=sshd.user, key_file=str(sshd.client_key),
                                  known_hosts=str(sshd.known_hosts))
            (targets / f"{name}.yaml").write_text(yaml.safe_dump(profile))
        old = os.environ.get("EDGECOMP_TARGETS_DIR")
        os.environ["EDGECOMP_TARGETS_DIR"] = str(targets)
        try:
            yield targets
        finally:
            if old is None:
                os.environ.pop("EDGECOMP_TARGETS_DIR", None)
            else:
                os.environ["EDGECOMP_TARGETS_DIR"] = old


@pytest.fixture(scope="module")
def emulated_build(emulated_targets, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("arm64-build")
    (folder / "plan.yaml").write_text(PLAN)
    result = CliRunner().invoke(app, ["build", "--config", str(folder / "plan.yaml"), "--target", "rpi4-emulated",
                                      "--out", str(folder / "run")])
    assert result.exit_code == 0, result.output
    return json.loads((folder / "run" / "report.json").read_text())


def by_name(report: dict) -> dict:
    return {artifact["name"]: artifact for artifact in report["artifacts"]}


def test_facts_say_emulated_aarch64_and_the_emulator(emulated_build):
    facts = emulated_build["target"]["facts"]
    assert facts["emulated"] is True and facts["architecture"] == "aarch64" and facts["machine"] == "aarch64"
    assert facts["emulator"].startswith("qemu-aarch64 version") and "cortex-a72" in facts["emulator"]
    assert facts["python"].startswith("3.11.") and facts["runtimes"]["ai_edge_litert"] == "2.3.0"
    assert facts["sys_prefix"] == str(PI_DIR / "rootfs" / "usr")  # the Debian arm64 interpreter, not the host's


def test_every_artifact_runs_on_arm_litert_with_the_hosts_accuracy(emulated_build):
    artifacts = by_name(emulated_build)
    assert set(artifacts) == {"model_original_float32.tflite", "model_float32.tflite", "model_int8.tflite",
                              "model_int8_io.tflite", "model_uint8_io.tflite", "model_dynamic.tflite"}
    for name, artifact in artifacts.items():
        assert artifact["status"] == "ok", (name, artifact.get("error"))
        assert artifact["emulated"] is True and artifact["accuracy_samples"] == SAMPLES
        assert artifact["runtime"] == {"name": "ai_edge_litert", "version": "2.3.0"}
        assert artifact["host_runtime"] == artifact["runtime"]
        assert abs(artifact["accuracy_vs_host_points"]) <= AGREEMENT_POINTS, (name, artifact["accuracy"],
                                                                                artifact["host_accuracy"])
    assert artifacts["model_int8_io.tflite"]["io"]["input_dtype"] == "int8"
    assert artifacts["model_uint8_io.tflite"]["io"]["input_dtype"] == "uint8"
    sparse_layers = [layer for layer in artifacts["model_float32.tflite"]["sparsity"]["layers"].values()
                     if layer["storage"] == "sparse"]
    assert sparse_layers, "the pruned float32 file should store its zeros in TFLite's sparse format"


def test_tflite_runtime_2_14_on_arm_agrees_and_names_the_op_it_lacks(emulated_build, tmp_path):
    run_dir = Path(emulated_build["run_dir"])
    files = [run_dir / a["path"] for a in emulated_build["artifacts"]]
    result = CliRunner().invoke(app, ["bench", *map(str, files), "--target", "rpi4-emulated-tflite-runtime",
                                      "--min-runs", "3", "--min-time", "0", "--accuracy-samples", str(SAMPLES),
                                      "--out", str(tmp_path / "bench")])
    # One failed row makes bench exit 1 (a CI job must notice), and the message names it.
    assert result.exit_code == 1, result.output
    assert "1 of 6 artifact(s) failed (model_dynamic.tflite" in " ".join(result.output.split())
    artifacts = by_name(json.loads((tmp_path / "bench" / "report.json").read_text()))
    dynamic = artifacts.pop("model_dynamic.tflite")
    assert dynamic["status"] == "failed"
    assert "tflite_runtime has no op FULLY_CONNECTED version 12" in dynamic["error"]
    for name, artifact in artifacts.items():
        assert artifact["status"] == "ok", (name, artifact.get("error"))
        assert artifact["runtime"] == {"name": "tflite_runtime", "version": "2.14.0"}
        if artifact["host_runtime"] == artifact["runtime"]:  # .venv-tflite-runtime exists on the host
            assert abs(artifact["accuracy_vs_host_points"]) <= AGREEMENT_POINTS, name
        else:
            pytest.fail("the host has no .venv-tflite-runtime to compare with: run scripts/setup.sh")


def test_targets_check_loads_files_on_the_emulated_pi(emulated_build):
    run_dir = Path(emulated_build["run_dir"])
    result = CliRunner().invoke(app, ["targets", "check", "rpi4-emulated",
                                      "--artifact", str(run_dir / "artifacts" / "model_uint8_io.tflite")])
    assert result.exit_code == 0, result.output
    assert "emulated" in result.output and "aarch64" in result.output
    assert "loads" in result.output and "model_uint8_io.tflite" in result.output
