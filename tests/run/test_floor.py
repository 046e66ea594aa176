"""The floor: a user's model file gets the PTQ int8 of the unchanged model beside the chain's files,
and ★ never goes below it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from edgecomp.plan.plan import parse_plan
from edgecomp.reporting.recommend import legend, recommend

# A chain made worse on purpose: 90% of the filters removed in one shot, no fine-tuning.
WORSE_CHAIN = """
dataset: {{name: fashion_mnist, train_limit: 600, test_limit: 300}}
export: {{formats: [tflite], parity_samples: 100}}
bench: {{warmup: 2, min_runs: 10, min_time_s: 0}}
stages:
  - {{stage: train}}
  - {{stage: prune, method: structured, sparsity: 0.9, epochs: 0}}
"""


def test_the_default_plan_for_a_model_file_exports_the_floor():
    assert parse_plan({"model": "mine/model.keras"}).export.floor is True
    assert parse_plan({}).export.floor is False  # a zoo model is the project's own: its chain is measured
    # Train and quantize only: the plan's own int8 file is the floor already.
    ptq = parse_plan({"model": "mine/model.keras", "stages": [{"stage": "train"}, {"stage": "quantize"}]})
    assert ptq.export.floor is False
    assert parse_plan({"model": "mine/model.keras", "export": {"floor": False}}).export.floor is False


@pytest.fixture(scope="module")
def worse_chain_report(tiny_model, tmp_path_factory):
    from edgecomp.cli.main import app

    folder = tmp_path_factory.mktemp("floor")
    tiny_model.save(folder / "mine.keras")
    plan = folder / "plan.yaml"
    plan.write_text(f"name: floor\nmodel: {folder / 'mine.keras'}\n" + WORSE_CHAIN.format())
    result = CliRunner().invoke(app, ["build", "--config", str(plan), "--out", str(folder / "run"), "--json"])
    assert result.exit_code == 0, result.output[-3000:]
    return json.loads((folder / "run" / "report.json").read_text()), folder / "run"


@pytest.mark.slow
def test_the_floor_is_recommended_when_the_chain_is_worse(worse_chain_report):
    report, run_dir = worse_chain_report
    by_role = {a.get("role"): a for a in report["artifacts"]}
    floor, chain = by_role["floor"], by_role[None]
    assert report["plan"]["export"]["floor"] is True
    # Every stage record states its seconds, epochs and optimizer steps (edgecomp.run.schedule).
    assert all({"seconds", "epochs", "steps"} <= set(stage) for stage in report["stages"]), report["stages"]
    assert "| stage | seconds | stage cache | epochs | steps |" in (run_dir / "report.md").read_text()
    assert floor["name"] == "model_floor_int8.tflite" and floor["precision"] == "int8" and floor["status"] == "ok"
    assert (run_dir / floor["path"]).is_file() and floor["params"] == by_role["original"]["params"]
    assert chain["accuracy"] < floor["accuracy"] - 0.01, "the chain was meant to be worse"
    assert report["recommended"] == {**report["recommended"], "name": floor["name"], "floor": floor["name"],
                                     "chain": chain["name"]}
    sentence = legend(report)
    assert f"Floor, the PTQ int8 of your model unchanged: {floor['name']}" in sentence
    assert f"the chain's pick: {chain['name']}" in sentence and "★ is the floor" in sentence
    assert "★ is the floor" in (run_dir / "report.md").read_text()


@pytest.mark.slow
def test_a_chain_file_that_beats_the_floor_is_recommended(worse_chain_report):
    """The same real artifacts, the chain's file made as accurate as the floor: the smaller one wins."""
    report, _ = worse_chain_report
    floor = next(a for a in report["artifacts"] if a.get("role") == "floor")
    artifacts = [{**a, "accuracy": floor["accuracy"], "size_bytes": floor["size_bytes"] // 2}
                 if a.get("role") is None else a for a in report["artifacts"]]
    picked = recommend({**report, "artifacts": artifacts})
    assert picked["name"] == picked["chain"] == "model_float32.tflite"
    assert "★ is a file of the chain" in legend({**report, "artifacts": artifacts, "recommended": picked})
