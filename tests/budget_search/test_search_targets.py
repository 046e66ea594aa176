"""`edgecomp search --target A --target B`: each trial's file is exported once, measured on every target,
and judged on its worst case over them (the slowest device's latency must fit the budget).

The judging reads the per-target reports a multi-target build writes (hand-made here, fast); the end
to end search runs the tiny plan of conftest.py on the host profile and a second host profile.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from edgecomp.budget_search.budget import Budget
from edgecomp.budget_search.trial import FAILED_SCORE, judge_on_targets
from edgecomp.cli.main import app

POINT = {"precision": "int8", "quantization": "ptq"}


def target_report(folder: Path, p50_ms: float, accuracy: float, status: str = "ok") -> dict:
    """A target's report.json in OUT/<target>/, its file in OUT/artifacts/ as a multi-target build writes it."""
    folder.mkdir(parents=True)
    entry = {"name": "model_int8.tflite", "format": "tflite", "precision": "int8", "status": status,
             "path": "../artifacts/model_int8.tflite", "size_bytes": 20_000, "gzip_bytes": 15_000,
             "accuracy": accuracy, "latency_ms": {"p50": p50_ms}, "model_peak_mb": 1.0,
             "error": None if status == "ok" else "benchmark: runner exited with code 1"}
    (folder / "report.json").write_text(json.dumps({"artifacts": [entry]}))
    return {"name": folder.name, "kind": "host", "status": "ok", "error": None, "report": f"{folder.name}/report.md"}


def test_a_trial_is_judged_on_the_slowest_target(tmp_path):
    combined = {"targets": [target_report(tmp_path / "fast", 0.5, 0.90), target_report(tmp_path / "slow", 6.0, 0.89)]}
    verdict = judge_on_targets(combined, tmp_path, POINT, Budget(max_latency_ms=5.0))
    assert verdict["status"] == "done" and verdict["artifact"] == "artifacts/model_int8.tflite"
    assert verdict["latency_p50_ms"] == 6.0 and verdict["accuracy"] == 0.89 and verdict["slowest_target"] == "slow"
    assert verdict["p50_by_target"] == {"fast": 0.5, "slow": 6.0}
    assert not verdict["meets_budget"] and verdict["missed"] == pytest.approx({"max_latency_ms": 0.2})
    assert judge_on_targets(combined, tmp_path, POINT, Budget(max_latency_ms=7.0))["meets_budget"]


def test_a_file_failed_on_one_target_fails_the_trial(tmp_path):
    combined = {"targets": [target_report(tmp_path / "fast", 0.5, 0.90),
                            target_report(tmp_path / "slow", 6.0, 0.89, status="failed")]}
    verdict = judge_on_targets(combined, tmp_path, POINT, Budget(max_size_kb=500))
    assert verdict["status"] == "failed" and verdict["score"] == FAILED_SCORE
    assert verdict["error"].startswith("on slow: int8 artifact failed: benchmark: runner exited")
    combined["targets"][1] = {"name": "board", "status": "failed", "error": "cannot reach 127.0.0.1"}
    verdict = judge_on_targets(combined, tmp_path, POINT, Budget())
    assert verdict["error"] == "target board failed: cannot reach 127.0.0.1"


def test_a_misspelled_second_target_is_a_usage_error_before_any_trial(tmp_path):
    result = CliRunner().invoke(app, ["search", "--target", "host", "--target", "rpi44", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2, result.output
    assert "unknown target" in result.output and not (tmp_path / "x").exists()


@pytest.mark.slow
def test_search_on_two_targets_ranks_by_the_slowest(tmp_path, search):
    pytest.importorskip("ray")
    second = tmp_path / "host-b.yaml"
    second.write_text(yaml.safe_dump({"name": "host-b", "kind": "host", "threads": 2}))
    result = search(tmp_path, "--trials", "1", "--max-size-kb", "500", "--max-latency-ms", "1000",
                    "--target", "host", "--target", str(second))
    assert result.returncode == 0, result.stderr[-3000:]
    assert ", slowest on host" in result.stdout  # host or host-b, with its p50
    summary = json.loads((tmp_path / "exp" / "search.json").read_text())
    assert summary["targets"] == ["host", "host-b"]
    [row] = summary["trials"]
    assert row["status"] == "done" and row["meets_budget"], row
    assert set(row["p50_by_target"]) == {"host", "host-b"}
    assert row["latency_p50_ms"] == max(row["p50_by_target"].values())
    assert row["p50_by_target"][row["slowest_target"]] == row["latency_p50_ms"]
    assert row["accuracy"] == min(row["accuracy_by_target"].values())
    trial = Path(row["run_dir"])
    assert json.loads((trial / "report.json").read_text())["kind"] == "multi_target"
    assert (trial / "host" / "report.json").is_file() and (trial / "host-b" / "report.json").is_file()
    best = tmp_path / "exp" / "best"
    assert (best / Path(row["artifact"]).name).is_file()
    assert (best / "host" / "report.json").is_file() and (best / "host-b" / "report.json").is_file()
    assert "on every target (host, host-b" in (tmp_path / "exp" / "search.html").read_text()
