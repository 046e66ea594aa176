"""`edgecomp build` interrupted (Ctrl-C) after a stage, then run again: it resumes from the stage cache."""

import json

import pytest
from typer.testing import CliRunner

from edgecomp.cli.main import app
from edgecomp.run.stages import STAGES

runner = CliRunner()

PLAN = """
name: resume
model: cnn-student
seed: 11
dataset: {name: fashion_mnist, train_limit: 512, test_limit: 256}
stages:
  - {stage: train, epochs: 1, batch_size: 64}
  - {stage: distill, method: kd, student: cnn-tiny, epochs: 1, batch_size: 64}
  - {stage: prune, method: global, sparsity: 0.5, epochs: 1, batch_size: 64}
export: {formats: [tflite], parity_samples: 50}
bench: {warmup: 1, min_runs: 5, min_time_s: 0, accuracy_samples: 50}
"""


def _stderr(result) -> str:
    return result.stderr if hasattr(result, "stderr") else result.output


def _must_not_run(name):
    def stage(ctx, cfg):
        raise AssertionError(f"stage {name} ran again instead of coming from the cache")

    return stage


@pytest.fixture()
def plan_file(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECOMP_CACHE_DIR", str(tmp_path / "cache"))  # this test's cache only
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    return path


@pytest.mark.slow
def test_ctrl_c_after_distill_then_the_same_command_resumes_there(plan_file, tmp_path, monkeypatch):
    from edgecomp.core.cache_store import list_entries

    def ctrl_c(ctx, cfg):
        raise KeyboardInterrupt

    command = ["build", "--config", str(plan_file), "--out", str(tmp_path / "run")]
    with monkeypatch.context() as patch:
        patch.setitem(STAGES._items, "prune", ctrl_c)  # Ctrl-C while the third stage runs
        result = runner.invoke(app, command)
    assert result.exit_code == 130, result.output
    assert "resume" in _stderr(result)
    entries = {entry.stage: entry for entry in list_entries()}
    # The finished stages (and KD's teacher logits); nothing of the interrupted one.
    assert sorted(entries) == ["distill", "distill (teacher logits)", "train"]

    # The same command again: train and distill must come from the cache (running them fails the test).
    monkeypatch.setitem(STAGES._items, "train", _must_not_run("train"))
    monkeypatch.setitem(STAGES._items, "distill", _must_not_run("distill"))
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "stage 2/3: distill — reused from cache (finished" in _stderr(result)
    assert f"key {entries['distill'].key[:12]}" in _stderr(result)
    stages = json.loads((tmp_path / "run" / "report.json").read_text())["stages"]
    assert [(s["stage"], s["cached"]) for s in stages] == [("train", True), ("distill", True), ("prune", False)]
    assert stages[1]["cache_key"] == entries["distill"].key
    from edgecomp.core.cache_store import read_entry

    assert stages[1]["seconds"] == read_entry(entries["distill"].key)["records"][1]["seconds"] > 0
    # prune ran on the restored student (cnn-tiny), not on the cnn-student teacher.
    assert stages[2]["info"]["params"]["before"] == stages[1]["info"]["params"]
    assert "stage cache" in (tmp_path / "run" / "report.md").read_text()  # the stage table says which were reused


@pytest.mark.slow
def test_no_cache_runs_every_stage(plan_file, tmp_path, monkeypatch):
    train_only = "".join(line + "\n" for line in PLAN.splitlines() if "stage: distill" not in line
                         and "stage: prune" not in line)
    plan_file.write_text(train_only)
    command = ["build", "--config", str(plan_file), "--out", str(tmp_path / "run")]
    assert runner.invoke(app, command).exit_code == 0
    monkeypatch.setitem(STAGES._items, "train", _must_not_run("train"))
    result = runner.invoke(app, command + ["--no-cache"])
    assert result.exit_code == 1 and isinstance(result.exception, AssertionError)  # train really ran
    assert "ran again" in str(result.exception)
