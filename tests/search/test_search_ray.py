"""`edgecomp search` end to end on real Ray Tune: embedded Ray, a 2-node local cluster, an unmeetable budget.

Each search trains a cnn-student teacher for 1 epoch on 1,000 real Fashion-MNIST images (cached after
the first trial) and distils it into cnn-tiny for 1-2 epochs, then benchmarks on the host target.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
pytest.importorskip("ray")

PLAN = """\
name: search-test
model: cnn-student
dataset: {train_limit: 1000, test_limit: 300}
stages: [{stage: train, epochs: 1, batch_size: 64}]
export: {formats: [tflite], parity_samples: 100}
bench: {warmup: 2, min_runs: 20, min_time_s: 0.05, accuracy_samples: 300}
search:
  students: [cnn-tiny]
  epochs: 2
  prune_methods: [none, global]
  prune_epochs: 0
  precisions: [int8, float16]
  quantization: [ptq]
"""
CLI = "from edgecomp.cli.main import run; run()"


def search(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    command = [sys.executable, "-c", CLI, "search", "--config", str(plan), "--out", str(tmp_path / "exp"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def test_three_trial_search_on_embedded_ray_writes_the_report_and_the_best_artifact(tmp_path):
    result = search(tmp_path, "--trials", "3", "--workers", "2", "--max-size-kb", "500")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "starting an embedded Ray with 2 worker(s)" in result.stderr
    assert "best so far" in result.stderr and "done, " in result.stderr

    summary = json.loads((tmp_path / "exp" / "search.json").read_text())
    rows = summary["trials"]
    assert len(rows) == 3
    assert {row["status"] for row in rows} <= {"done", "stopped"}
    done = [row for row in rows if row["status"] == "done"]
    assert done, rows
    for row in done:
        assert row["meets_budget"] and 0 < row["size_kb"] < 500
        assert row["gzip_kb"] > 0 and row["latency_p50_ms"] > 0 and row["memory_mb"] is not None
        assert row["params"]["student"] == "cnn-tiny" and row["params"]["precision"] in ("int8", "float16")
        assert (Path(row["run_dir"]) / "report.json").is_file()
    assert set(summary["pareto"]["size"]) <= {row["trial_id"] for row in done} and summary["pareto"]["size"]

    best = summary["best"]
    assert best["accuracy"] == max(row["accuracy"] for row in done)
    folder = tmp_path / "exp" / "best"
    artifact = folder / Path(best["artifact"]).name
    assert artifact.is_file() and artifact.stat().st_size == best["size_kb"] * 1000
    card = json.loads((folder / f"{artifact.name}.json").read_text())
    assert card["artifact"] == artifact.name and card["accuracy"] == best["accuracy"]
    build_report = json.loads((folder / "report.json").read_text())
    assert any(a["path"] == best["artifact"] for a in build_report["artifacts"])

    page = (tmp_path / "exp" / "search.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert all(row["trial_id"] in page for row in rows)


def test_a_budget_nothing_meets_exits_1_naming_the_closest_trials(tmp_path):
    result = search(tmp_path, "--trials", "2", "--workers", "2", "--max-size-kb", "0.5")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "error: no trial meets the budget (size <= 0.5 kB); closest: trial " in result.stderr
    assert "misses max_size_kb" in result.stderr
    summary = json.loads((tmp_path / "exp" / "search.json").read_text())
    assert summary["best"] is None and not (tmp_path / "exp" / "best").exists()
    assert any(row["status"] == "done" and not row["meets_budget"] for row in summary["trials"])


def test_the_same_search_runs_on_a_two_node_local_ray_cluster(tmp_path):
    from ray.cluster_utils import Cluster

    # The head node reaches the device (the host target); the second node only trains.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"device:host": 1},
                                                            "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        result = search(tmp_path, "--trials", "2", "--workers", "2", "--max-size-kb", "500",
                        "--address", cluster.address)
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"connecting to the Ray cluster at {cluster.address}" in result.stderr
        assert "embedded Ray" not in result.stderr
        summary = json.loads((tmp_path / "exp" / "search.json").read_text())
        assert len(summary["trials"]) == 2 and summary["best"] is not None
        assert (tmp_path / "exp" / "best" / "report.json").is_file()
    finally:
        cluster.shutdown()
