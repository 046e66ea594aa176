"""Budgets against measured report.json artifacts, the searcher's score and the --time-budget parser."""

from __future__ import annotations

import pytest

from edgecomp.api.search import parse_duration
from edgecomp.budget_search.budget import Budget, candidate_metrics, score, violations
from edgecomp.budget_search.results import best_trial, closest_trials, judge_rows, no_fit_message
from edgecomp.core.errors import UsageError

ARTIFACT = {"accuracy": 0.85, "size_bytes": 120_000, "gzip_bytes": 90_000, "latency_ms": {"p50": 2.0},
            "model_peak_mb": 1.5}


def test_candidate_metrics_read_the_measured_artifact():
    assert candidate_metrics(ARTIFACT) == {"accuracy": 0.85, "size_kb": 120.0, "gzip_kb": 90.0,
                                           "latency_p50_ms": 2.0, "memory_mb": 1.5}


def test_violations_are_relative_misses_and_unmeasured_numbers_miss():
    metrics = candidate_metrics(ARTIFACT)
    assert violations(metrics, Budget(max_size_kb=200, max_latency_ms=5, min_accuracy=80)) == {}
    missed = violations(metrics, Budget(max_size_kb=100, max_gzip_kb=90, max_memory_mb=3, min_accuracy=90))
    assert missed == pytest.approx({"max_size_kb": 0.2, "min_accuracy": 0.05 / 0.9})
    assert violations({**metrics, "latency_p50_ms": None}, Budget(max_latency_ms=5)) == {"max_latency_ms": 1.0}


def test_score_ranks_every_fitting_trial_above_every_miss():
    assert score({"accuracy": 0.3}, {}) > score({"accuracy": 0.99}, {"max_size_kb": 0.01})
    assert score({"accuracy": 0.9}, {"max_size_kb": 0.1}) > score({"accuracy": 0.9}, {"max_size_kb": 2.0})


def test_budget_rejects_negative_limits():
    with pytest.raises(UsageError, match="--max-size-kb must be 0 or more"):
        Budget(max_size_kb=-1)


ROWS = [
    {"trial_id": "a", "status": "done", "accuracy": 0.80, "size_kb": 50, "meets_budget": True, "missed": {}},
    {"trial_id": "b", "status": "done", "accuracy": 0.80, "size_kb": 40, "meets_budget": True, "missed": {}},
    {"trial_id": "c", "status": "done", "accuracy": 0.90, "size_kb": 300, "latency_p50_ms": 1.0,
     "meets_budget": False, "missed": {"max_size_kb": 2.0}},
    {"trial_id": "d", "status": "done", "accuracy": 0.88, "size_kb": 120, "latency_p50_ms": 1.0,
     "meets_budget": False, "missed": {"max_size_kb": 0.2}},
    {"trial_id": "e", "status": "stopped", "meets_budget": False},
]


def test_best_is_the_most_accurate_fitting_trial_then_the_smaller():
    assert best_trial(ROWS)["trial_id"] == "b"
    assert best_trial(ROWS[2:]) is None


def test_no_fit_message_lists_the_closest_trials_first(tmp_path):
    assert [r["trial_id"] for r in closest_trials(ROWS)] == ["d", "c"]
    message = no_fit_message(ROWS[2:], Budget(max_size_kb=100), tmp_path)
    assert message.startswith("no trial meets the budget (size <= 100 kB); closest: trial d: 88.00 %, 120 kB")
    assert message.index("trial d") < message.index("trial c")
    assert "misses max_size_kb" in message and str(tmp_path / "search.html") in message


@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("1h30m", 5400), ("90s", 90), ("600", 600),
                                           ("1.5h", 5400), (None, None)])
def test_time_budget_parses(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["thirty minutes", "", "m", "5d"])
def test_bad_time_budget_is_a_usage_error(text):
    with pytest.raises(UsageError, match="is not a duration"):
        parse_duration(text)


def test_search_help_imports_neither_ray_nor_tensorflow():
    import subprocess
    import sys

    code = ("import sys; from typer.testing import CliRunner; from edgecomp.cli.main import app; "
            "r = CliRunner().invoke(app, ['search', '--help']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('ray', 'optuna', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_trials_are_judged_by_the_budget_given_now():
    """A resumed search may get another budget: measured trials are judged again, stopped ones stay misses."""
    rows = judge_rows([{**row} for row in ROWS], Budget(max_size_kb=100, min_accuracy=85))
    assert {r["trial_id"]: r["meets_budget"] for r in rows} == {"a": False, "b": False, "c": False, "d": False,
                                                                "e": False}
    assert rows[3]["missed"] == pytest.approx({"max_size_kb": 0.2})
    rows = judge_rows(rows, Budget(max_size_kb=150))
    assert [r["trial_id"] for r in rows if r["meets_budget"]] == ["a", "b", "d"]


def test_a_trial_missing_by_any_amount_scores_above_a_failed_one():
    """Optuna must never prefer a configuration that failed over one that was measured, however far off."""
    from edgecomp.budget_search.trial import FAILED_SCORE

    assert score({"accuracy": 0.0}, {"max_size_kb": 1e9, "max_latency_ms": 1e9}) > FAILED_SCORE


def test_an_artifact_that_disagrees_with_keras_never_meets_the_budget():
    from edgecomp.budget_search.trial import judge

    point = {"precision": "int8", "quantization": "ptq"}
    report = {"artifacts": [{**ARTIFACT, "name": "model_int8.tflite", "path": "artifacts/model_int8.tflite",
                             "format": "tflite", "precision": "int8", "status": "parity_failed"}]}
    verdict = judge(report, point, Budget(max_size_kb=500))
    assert verdict["status"] == "done" and not verdict["meets_budget"] and verdict["missed"] == {"parity": 1.0}
    [row] = judge_rows([{"trial_id": "a", "status": "done", **candidate_metrics(ARTIFACT),
                         "artifact_status": "parity_failed"}], Budget(max_size_kb=500))
    assert not row["meets_budget"] and row["missed"] == {"parity": 1.0}  # also when a resumed search re-judges


def test_an_emulated_target_refuses_latency_and_memory_limits():
    from edgecomp.api.search import refuse_emulated_limits
    from edgecomp.targets.profiles import resolve_target

    emulated, host = resolve_target("rpi4-emulated"), resolve_target("host")
    with pytest.raises(UsageError, match="emulated: its latency and memory are QEMU's.*--max-latency-ms"):
        refuse_emulated_limits(emulated, max_latency_ms=5.0, max_memory_mb=None)
    refuse_emulated_limits(emulated, max_latency_ms=None, max_memory_mb=None)  # size and accuracy budgets apply
    refuse_emulated_limits(host, max_latency_ms=5.0, max_memory_mb=2.0)


def test_budget_min_accuracy_is_percent_as_the_gates_take_it():
    """One unit per name: `min_accuracy` is percent in a Budget as in the quality gates; a fraction is refused."""
    with pytest.raises(UsageError, match="looks like a fraction"):
        Budget(min_accuracy=0.9)
    assert Budget(min_accuracy=90).describe() == "accuracy >= 90 %"
    assert violations({"accuracy": 0.91}, Budget(min_accuracy=90)) == {}
    assert set(violations({"accuracy": 0.89}, Budget(min_accuracy=90))) == {"min_accuracy"}
