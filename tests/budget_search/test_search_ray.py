"""`edgecomp search` end to end on an embedded Ray: the report and best artifact, an unmeetable budget.

The tiny plan and the `search` fixture are in conftest.py; test_search_cluster.py has the 2-node
cluster and the resume after Ctrl-C.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
pytest.importorskip("ray")


def test_three_trial_search_on_embedded_ray_writes_the_report_and_the_best_artifact(tmp_path, search):
    result = search(tmp_path, "--trials", "3", "--workers", "2", "--max-size-kb", "500")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "starting an embedded Ray with 2 worker(s)" in result.stderr
    assert "the teacher: trained once for every trial" in result.stderr
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
        trial_report = json.loads((Path(row["run_dir"]) / "report.json").read_text())
        train = trial_report["stages"][0]
        assert train["stage"] == "train" and train["cached"]  # trained once, before the trials, for all of them
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


def test_a_budget_nothing_meets_exits_1_naming_the_closest_trials(tmp_path, search):
    result = search(tmp_path, "--trials", "1", "--max-size-kb", "0.5")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "error: no trial meets the budget (size <= 0.5 kB); closest: trial " in result.stderr
    assert "misses max_size_kb" in result.stderr
    summary = json.loads((tmp_path / "exp" / "search.json").read_text())
    assert summary["best"] is None and not (tmp_path / "exp" / "best").exists()
    [row] = summary["trials"]
    assert row["status"] == "done" and not row["meets_budget"] and row["missed"]["max_size_kb"] > 1
    assert summary["closest"] == [row["trial_id"]] and f"closest: trial {row['trial_id']}:" in result.stderr


def test_search_from_python_returns_the_best_trial_and_renders(tmp_path):
    """`edgecomp.search` (what the command calls) with a budget in percent: the result and its HTML."""
    import yaml

    import edgecomp
    from tests.budget_search.conftest import PLAN

    result = edgecomp.search(plan=yaml.safe_load(PLAN), out=tmp_path / "exp", trials=1, max_size_kb=500,
                                    min_accuracy=5)
    assert result.best["accuracy"] >= 0.05 and result.budget == {"max_size_kb": 500, "min_accuracy": 5}
    assert (result.best_folder / "report.json").is_file() and len(result.trials) == 1
    html = result._repr_html_()
    assert "accuracy &gt;= 5 %" in html and html.count("data:image/png;base64,") == 2
    assert list(result.to_pandas()["trial_id"]) == [result.best["trial_id"]]
