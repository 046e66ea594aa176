"""The CLI through typer's CliRunner: help, version, the whole build on a small subset, bad inputs."""

import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from edgecomp.cli.main import app

runner = CliRunner()
COMMANDS = [[], ["build"], ["bench"], ["search"], ["env"], ["models"], ["report"], ["data"], ["data", "list"],
            ["data", "check"], ["cache"], ["cache", "list"], ["cache", "clear"]]

FAST_PLAN = """
name: tiny
model: cnn-tiny
dataset: {name: fashion_mnist, train_limit: 1500, test_limit: 300}
stages:
  - {stage: train, epochs: 3, batch_size: 64, learning_rate: 0.01}
  - {stage: quantize, modes: [int8], calibration_samples: 100}
export: {parity_samples: 100}
bench: {warmup: 2, min_runs: 20, min_time_s: 0.05}
"""


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_help_for_every_command(command):
    result = runner.invoke(app, command + ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.mark.parametrize("command", [["build"], ["bench"], ["report"]])
def test_wide_table_option_on_build_bench_and_report(command):
    result = runner.invoke(app, command + ["--help"], env={"COLUMNS": "160"})
    assert result.exit_code == 0 and "--wide" in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("edgecomp 0.")


def test_help_does_not_import_tensorflow():
    code = ("import sys; from typer.testing import CliRunner; from edgecomp.cli.main import app; "
            "CliRunner().invoke(app, ['build', '--help']); print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.fixture(scope="module")
def built_run(tmp_path_factory):
    """One real build: train cnn-tiny on 1,500 images, int8 PTQ, export, parity, host benchmark."""
    folder = tmp_path_factory.mktemp("build")
    plan = folder / "plan.yaml"
    plan.write_text(FAST_PLAN)
    result = runner.invoke(app, ["build", "--config", str(plan), "--out", str(folder / "run"), "--json"])
    return folder / "run", result


def test_build_writes_reports_with_measured_artifacts(built_run):
    run_dir, result = built_run
    assert result.exit_code == 0, result.output
    report = json.loads((run_dir / "report.json").read_text())
    assert report["schema_version"] == 3
    assert [a["name"] for a in report["artifacts"]] == ["model_float32.tflite", "model_int8.tflite",
                                                        "model_float32.onnx", "model_int8.onnx"]
    for artifact in report["artifacts"]:
        assert artifact["status"] == "ok", artifact.get("error")
        assert (run_dir / artifact["path"]).stat().st_size == artifact["size_bytes"]
        assert artifact["accuracy_samples"] == 300
        # Efficiency in percent per MB / per ms, the scale of the accuracy column.
        assert artifact["acc_per_mb"] == pytest.approx(100 * artifact["accuracy"] / (artifact["size_bytes"] / 1e6))
        assert artifact["acc_per_gzip_mb"] == pytest.approx(100 * artifact["accuracy"]
                                                            / (artifact["gzip_bytes"] / 1e6))
        assert artifact["acc_per_ms"] == pytest.approx(100 * artifact["accuracy"] / artifact["latency_ms"]["p50"])
        assert artifact["parity"]["passed"]
    int8 = report["artifacts"][1]
    # cnn-tiny's files are tens of kB and each carries ~1.2 kB of embedded metadata (labels, normalisation),
    # so the ratio sits near 2.4 here; the ~4x check on a model where weights dominate is in tests/export.
    assert int8["vs_float32"]["size_ratio"] > 2.0
    # Each format is compared with its own float32 file: ONNX with ONNX, never with LiteRT.
    onnx_float, onnx_int8 = report["artifacts"][2], report["artifacts"][3]
    assert onnx_float["vs_float32"] is None
    assert onnx_int8["vs_float32"]["size_ratio"] == pytest.approx(onnx_float["size_bytes"] / onnx_int8["size_bytes"])
    assert report["timing_floor_ms"]["p50"] > 0
    assert report["plan"]["stages"][0]["epochs"] == 3
    assert report["versions"]["tensorflow"].startswith("2.21")
    assert report["warnings"] == []  # a healthy zoo build: no sanity check speaks up
    assert (run_dir / "report.md").read_text().startswith("# edgecomp report: tiny")
    assert "## Warnings" not in (run_dir / "report.md").read_text()
    # Latency is read against the CPU's int8/float kernels: the features are recorded and shown.
    assert "avx2" in report["host"]["cpu_features"] or report["host"]["machine"] != "x86_64"
    assert f"CPU features: {', '.join(report['host']['cpu_features'])}." in (run_dir / "report.md").read_text()
    # --json prints the same report that was written.
    assert json.loads(result.stdout.strip().splitlines()[-1]) == report


def test_build_embeds_labels_in_every_tflite(built_run, read_tflite_metadata):
    from edgecomp.data.dataset import FASHION_MNIST_CLASSES

    run_dir, _ = built_run
    for precision in ("float32", "int8"):
        read = read_tflite_metadata(run_dir / "artifacts" / f"model_{precision}.tflite")
        assert read["labels"].splitlines() == FASHION_MNIST_CLASSES
        assert read["metadata"]["description"].startswith(f"{precision} image classifier")


def test_build_embeds_labels_and_a_batch_dimension_in_every_onnx(built_run):
    import onnxruntime

    from edgecomp.data.dataset import FASHION_MNIST_CLASSES

    run_dir, _ = built_run
    for precision in ("float32", "int8"):
        session = onnxruntime.InferenceSession(str(run_dir / "artifacts" / f"model_{precision}.onnx"),
                                               providers=["CPUExecutionProvider"])
        props = session.get_modelmeta().custom_metadata_map
        assert json.loads(props["labels"]) == FASHION_MNIST_CLASSES and props["precision"] == precision
        assert session.get_inputs()[0].shape[0] == "batch"


def test_second_build_reuses_the_cached_model(built_run, tmp_path):
    run_dir, _ = built_run
    plan = run_dir.parent / "plan.yaml"
    result = runner.invoke(app, ["build", "--config", str(plan), "--out", str(tmp_path / "again"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "again" / "report.json").read_text())
    first = json.loads((run_dir / "report.json").read_text())
    assert [stage["cached"] for stage in report["stages"]] == [True, True]
    assert report["stages"][0]["seconds"] == first["stages"][0]["seconds"]  # the seconds of the run that trained


def test_bench_command_on_user_files(built_run, tmp_path):
    run_dir, _ = built_run
    result = runner.invoke(app, ["bench", str(run_dir / "artifacts" / "model_int8.tflite"), "--min-runs", "10",
                                 "--min-time", "0", "--accuracy-samples", "100", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["artifacts"][0]["accuracy_samples"] == 100
    assert report["artifacts"][0]["latency_ms"]["p50"] > 0


def test_quality_gate_exits_3_and_names_the_artifact(built_run, tmp_path):
    run_dir, _ = built_run
    artifact = run_dir / "artifacts" / "model_int8.tflite"
    result = runner.invoke(app, ["bench", str(artifact), "--min-runs", "5", "--min-time", "0", "--accuracy-samples",
                                 "50", "--out", str(tmp_path), "--max-size-mb", "0.001"])
    assert result.exit_code == 3, result.output
    assert "model_int8.tflite: size" in _error_of(result) and "--max-size-mb 0.001" in _error_of(result)
    assert (tmp_path / "report.json").is_file()  # the report is written before the gate fails


def test_build_writes_html_report(built_run):
    run_dir, _ = built_run
    html = (run_dir / "report.html").read_text()
    assert "model_int8.tflite" in html and "data:image/png;base64," in html


def _error_of(result) -> str:
    return result.stderr if hasattr(result, "stderr") else result.output


@pytest.mark.parametrize("args, exit_code, message", [
    (["build", "--dataset", "fashion_mnsit"], 2, "Did you mean 'fashion_mnist'"),
    (["build", "--model", "cnn-teachr"], 2, "Did you mean 'cnn-teacher'"),
    (["build", "--model", "missing/model.keras"], 1, "does not exist"),
    (["build", "--target", "hots"], 2, "unknown target"),
    (["bench", "missing.tflite"], 1, "does not exist"),
])
def test_bad_inputs_give_one_clear_line(args, exit_code, message, tmp_path):
    result = runner.invoke(app, args + ["--out", str(tmp_path / "out")])
    assert result.exit_code == exit_code, result.output
    assert message in _error_of(result)
    assert "Traceback" not in result.output


def test_corrupt_model_file(tmp_path):
    bad = tmp_path / "model.keras"
    bad.write_bytes(b"garbage")
    result = runner.invoke(app, ["build", "--model", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "corrupt" in _error_of(result)


def test_dataset_that_does_not_fit_the_model(tiny_model, tmp_path):
    """A 32x32x3 dataset given to a 28x28x1 model fails before any training, naming both shapes."""
    model_path = tmp_path / "tiny.keras"
    tiny_model.save(model_path)
    data = tmp_path / "rgb.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x_train=rng.integers(0, 255, (40, 32, 32, 3), dtype=np.uint8), y_train=np.arange(40) % 10,
             x_test=rng.integers(0, 255, (10, 32, 32, 3), dtype=np.uint8), y_test=np.arange(10))
    result = runner.invoke(app, ["build", "--model", str(model_path), "--dataset", str(data),
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "(32, 32, 3)" in _error_of(result) and "(28, 28, 1)" in _error_of(result)


def test_ctrl_c_during_training_exits_130_and_leaves_no_half_written_model(monkeypatch, tmp_path):
    """Ctrl-C in the middle of training: a clear message, exit 130, and no cache entry that looks complete."""
    import os
    from pathlib import Path

    from edgecomp.compress import fitting

    def interrupted_fit(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fitting, "fit", interrupted_fit)
    plan = tmp_path / "plan.yaml"
    plan.write_text(FAST_PLAN + "seed: 7\n")  # a seed no other test uses: no cached model to skip training
    result = runner.invoke(app, ["build", "--config", str(plan), "--out", str(tmp_path / "run")])
    assert result.exit_code == 130
    assert "interrupted" in _error_of(result)
    cache = Path(os.environ["EDGECOMP_CACHE_DIR"]) / "stages"
    assert not list(cache.glob(".partial*"))
    assert not (tmp_path / "run" / "report.json").exists()


@pytest.mark.slow
def test_a_plan_that_replaces_the_model_reports_against_the_original(built_run, tmp_path):
    """Structured pruning makes a new, smaller network: the original float32 file is exported first
    and every ratio is measured against it."""
    run_dir, _ = built_run
    plan = tmp_path / "plan.yaml"
    plan.write_text(FAST_PLAN.replace(
        "  - {stage: quantize, modes: [int8], calibration_samples: 100}",
        "  - {stage: prune, method: structured, sparsity: 0.5, scope: conv, epochs: 0}\n"
        "  - {stage: quantize, modes: [int8], calibration_samples: 100}").replace(
        "export: {parity_samples: 100}", "export: {formats: [tflite], parity_samples: 100}"))
    result = runner.invoke(app, ["build", "--config", str(plan), "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    original, pruned_float, pruned_int8 = report["artifacts"]
    assert original["name"] == "model_original_float32.tflite" and original["role"] == "original"
    assert original["params"] > pruned_float["params"]
    assert pruned_float["vs_float32"]["size_ratio"] == pytest.approx(original["size_bytes"] / pruned_float["size_bytes"])
    assert pruned_int8["vs_float32"]["size_ratio"] > pruned_float["vs_float32"]["size_ratio"]


@pytest.mark.slow
def test_a_damaged_cached_model_is_retrained_not_fatal(built_run, tmp_path):
    """A cache entry cut short (disk full, killed copy) costs a retraining, not the build."""
    import os

    from edgecomp.core.cache_store import entry_dir

    run_dir, _ = built_run
    key = json.loads((run_dir / "report.json").read_text())["stages"][0]["cache_key"]
    cached = entry_dir(key) / "model.keras"
    original = cached.read_bytes()
    cached.write_bytes(original[: len(original) // 3])
    try:
        result = runner.invoke(app, ["build", "--config", str(run_dir.parent / "plan.yaml"),
                                     "--out", str(tmp_path / "run"), "--json"])
        assert result.exit_code == 0, result.output
        assert "unusable" in _error_of(result)
        report = json.loads((tmp_path / "run" / "report.json").read_text())
        assert report["stages"][0]["cached"] is False and report["stages"][0]["cache_key"] == key
        assert cached.is_file() and os.path.getsize(cached) > len(original) // 3  # written anew, whole
    finally:
        if cached.is_file() and cached.stat().st_size == len(original) // 3:
            cached.write_bytes(original)


# One bad setting per stage, in a plan whose first stage would train the default teacher on all
# 54,000 images: the build must stop at the plan, with TensorFlow never imported.
BAD_STAGE_SETTINGS = {
    "train": ("{stage: train, epoch: 3}", "unknown key 'epoch'"),
    "distill": ("{stage: distill, method: kd, exits: [stage1_pool]}", "does not use exits"),
    "prune": ("{stage: prune, method: local, scope: conv}", "does not use scope"),
    "quantize": ("{stage: quantize, modes: [dynamic], calibration_samples: 100}", "calibration_samples"),
    "qat": ("{stage: qat, learning_rate: -1}", "qat.learning_rate"),
}


@pytest.mark.parametrize("stage", sorted(BAD_STAGE_SETTINGS))
def test_bad_stage_setting_exits_2_before_any_training(stage, tmp_path):
    from edgecomp.plan.stage_settings import STAGE_NAMES

    assert sorted(STAGE_NAMES) == sorted(BAD_STAGE_SETTINGS)  # a new stage needs a case here
    entry, message = BAD_STAGE_SETTINGS[stage]
    plan = tmp_path / "bad.yaml"
    plan.write_text(f"model: cnn-teacher\nstages:\n  - {{stage: train, epochs: 10}}\n  - {entry}\n")
    # sys.modules["tensorflow"] = None makes any TensorFlow import fail: nothing can train.
    code = "import sys; sys.modules['tensorflow'] = None; from edgecomp.cli.main import app; app()"
    result = subprocess.run([sys.executable, "-c", code, "build", "--config", str(plan), "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and f"plan {plan}" in result.stderr
    assert "stage 1/" not in result.stderr and "loading dataset" not in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_internal_error_exits_1_with_its_traceback(monkeypatch, tmp_path):
    """A broken invariant is a bug: exit 1 and the traceback, not a usage error's exit 2."""
    from edgecomp.core.errors import EdgecompError, InternalError
    from edgecomp.run import pipeline

    def broken_build(*args, **kwargs):
        raise InternalError("an invariant did not hold")

    monkeypatch.setattr(pipeline, "run_build", broken_build)
    plan = tmp_path / "plan.yaml"
    plan.write_text(FAST_PLAN)
    result = runner.invoke(app, ["build", "--config", str(plan), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert isinstance(result.exception, InternalError) and not isinstance(result.exception, EdgecompError)


def test_build_help_reads_in_80_columns():
    """Each option's help beside it, on one to four lines (rich's panels wrapped each over 3-6)."""
    result = runner.invoke(app, ["build", "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.split("Options:")[1].splitlines()[1:]
    assert max(len(line) for line in lines) <= 80
    starts = [i for i, line in enumerate(lines) if line.startswith("  -")] + [len(lines)]
    heights = [end - start for start, end in zip(starts, starts[1:])]
    assert len(heights) > 20 and max(heights) <= 4 and sum(heights) / len(heights) < 2, result.output
    assert "(default: runs/<plan name>)" in result.output  # the text as written, markup off


def test_a_time_budget_from_a_plan_file_and_from_the_flag_resolve_alike(monkeypatch, tmp_path):
    from edgecomp.core.errors import InternalError
    from edgecomp.run import pipeline

    budgets = []

    def capture(plan, *args, **kwargs):
        budgets.append(plan.time_budget)
        raise InternalError("captured")

    monkeypatch.setattr(pipeline, "run_build", capture)
    config = tmp_path / "plan.yaml"
    config.write_text("model: cnn-tiny\ntime_budget: 1h30m\n")
    runner.invoke(app, ["build", "--config", str(config), "--out", str(tmp_path / "a")])
    runner.invoke(app, ["build", "--model", "cnn-tiny", "--time-budget", "1h30m", "--out", str(tmp_path / "a")])
    assert budgets == [5400, 5400]
    bad = runner.invoke(app, ["build", "--model", "cnn-tiny", "--time-budget", "20 minutes"])
    assert bad.exit_code == 2 and "not a duration" in bad.output and "30m, 1h30m, 90s" in bad.output


def test_a_model_file_and_folder_resolve_alike_from_a_plan_file_and_from_flags(monkeypatch, tmp_path):
    """Issue 22's user: `--config` naming the model and `dataset: {name: FOLDER, normalization: raw}`,
    and the same through flags (`--normalization raw`), run one and the same plan."""
    from edgecomp.core.errors import InternalError
    from edgecomp.run import pipeline

    plans = []

    def capture(plan, *args, **kwargs):
        plans.append(plan.model_dump())
        raise InternalError("captured")

    monkeypatch.setattr(pipeline, "run_build", capture)
    model, folder = tmp_path / "user.keras", tmp_path / "folder"
    (folder / "a").mkdir(parents=True)
    config = tmp_path / "plan.yaml"
    config.write_text(f"model: {model}\ndataset: {{name: {folder}, normalization: raw}}\n")
    runner.invoke(app, ["build", "--config", str(config), "--out", str(tmp_path / "a")])
    runner.invoke(app, ["build", "--model", str(model), "--dataset", str(folder), "--normalization", "raw",
                        "--out", str(tmp_path / "a")])
    assert len(plans) == 2 and plans[0]["dataset"]["normalization"] == "raw"
    assert plans[0]["stages"][0]["epochs"] == 0  # the user's model is loaded as is
    assert plans[0] == plans[1]
    bad = runner.invoke(app, ["build", "--model", str(model), "--normalization", "unit8"])
    assert bad.exit_code == 2
