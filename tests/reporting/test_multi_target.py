"""One file for every target: each file's worst case over the targets, the ★ rule and the quality gates on it.

The reports are small report.json documents with hand-set numbers: a fast board and a slow one that
measured the same two files (a float32 file and a smaller int8 file).
"""

from __future__ import annotations

import copy

from edgecomp.reporting.multi_target import (
    gate_violations,
    multi_target_table,
    recommend_on_every_target,
    render_multi_markdown,
    worst_case_report,
)


def artifact(name: str, size_bytes: int, accuracy: float, p50: float, memory: float, status: str = "ok") -> dict:
    return {"name": name, "format": "tflite", "precision": "int8" if "int8" in name else "float32",
            "path": f"../artifacts/{name}", "status": status, "error": None if status == "ok" else "runtime refused it",
            "size_bytes": size_bytes, "accuracy": accuracy, "latency_ms": {"p50": p50}, "model_peak_mb": memory}


def report(*artifacts: dict) -> dict:
    return {"artifacts": list(artifacts), "target": {"name": "?", "facts": {}}}


# The int8 file is 4x smaller and as accurate: the ★ rule without gates picks it on both boards.
FAST = report(artifact("m_float32.tflite", 400_000, 0.91, 1.0, 2.0),
              artifact("m_int8.tflite", 100_000, 0.905, 0.5, 1.0))
SLOW = report(artifact("m_float32.tflite", 400_000, 0.91, 4.0, 2.5),
              artifact("m_int8.tflite", 100_000, 0.90, 6.0, 1.2))


def combined(reports: dict, down: tuple = ()) -> dict:
    targets = [{"name": name, "kind": "ssh", "status": "ok", "error": None, "report": f"{name}/report.md",
                "recommended": "m_int8.tflite",
                "artifacts": {a["name"]: {"status": a["status"], "error": a["error"], "p50_ms": a["latency_ms"]["p50"],
                                          "model_mb": a["model_peak_mb"], "accuracy": a["accuracy"]}
                              for a in r["artifacts"]}} for name, r in reports.items()]
    targets += [{"name": name, "kind": "ssh", "status": "failed", "error": "cannot reach it", "report": None,
                 "recommended": None, "artifacts": {}} for name in down]
    return {"kind": "multi_target", "run": "build", "edgecomp_version": "0", "command": "edgecomp build",
            "created": "now", "dataset": "fashion_mnist", "artifacts": ["m_float32.tflite", "m_int8.tflite"],
            "targets": targets, "host_accuracy": {}}


def test_the_worst_case_is_each_numbers_worst_target():
    worst = {a["name"]: a for a in worst_case_report({"fast": FAST, "slow": SLOW})["artifacts"]}
    int8 = worst["m_int8.tflite"]
    assert int8["accuracy"] == 0.90 and int8["latency_ms"]["p50"] == 6.0 and int8["model_peak_mb"] == 1.2
    assert int8["worst_on"] == {"accuracy": "slow", "p50": "slow", "model_peak_mb": "slow"}
    assert int8["size_bytes"] == 100_000 and int8["status"] == "ok" and int8["path"] == "../artifacts/m_int8.tflite"


def test_a_file_failed_on_one_target_is_failed_in_the_worst_case():
    broken = copy.deepcopy(SLOW)
    broken["artifacts"][1].update(status="failed", error="no op FULLY_CONNECTED version 12")
    int8 = worst_case_report({"fast": FAST, "slow": broken})["artifacts"][1]
    assert int8["status"] == "failed" and int8["error"] == "on slow: no op FULLY_CONNECTED version 12"
    assert int8["accuracy"] is None and int8["latency_ms"]["p50"] is None
    picked = recommend_on_every_target(combined({"fast": FAST, "slow": broken}), {"fast": FAST, "slow": broken}, None)
    assert picked["name"] == "m_float32.tflite"  # the only file that runs on both


def test_the_slowest_device_decides_a_latency_gate():
    reports = {"fast": FAST, "slow": SLOW}
    gates = {"max_size_mb": None, "max_latency_ms": 5.0, "min_accuracy": None, "scope": "every"}
    picked = recommend_on_every_target(combined(reports), reports, gates)
    # int8 meets 5 ms on the fast board (0.5 ms) but not on the slow one (6 ms): float32 (4 ms there) is picked.
    assert picked["name"] == "m_float32.tflite" and picked["rule"] == "gates"
    assert picked["per_target"] == {"fast": "m_int8.tflite", "slow": "m_int8.tflite"}
    assert picked["reason"].startswith("over every target's worst case, the most accurate ok artifact meeting")
    assert gate_violations(reports, gates) == ["on slow: m_int8.tflite: latency p50 6.000 ms > --max-latency-ms 5"]
    # scope any: one file meets the gate on every target, so nothing is missed
    assert gate_violations(reports, {**gates, "scope": "any"}) == []
    assert gate_violations(reports, {**gates, "max_latency_ms": 3.0, "scope": "any"}) == [
        "on slow: m_float32.tflite: latency p50 4.000 ms > --max-latency-ms 3",
        "on slow: m_int8.tflite: latency p50 6.000 ms > --max-latency-ms 3"]


def test_without_gates_the_smallest_file_within_a_point_on_every_target():
    reports = {"fast": FAST, "slow": SLOW}
    picked = recommend_on_every_target(combined(reports), reports, {"max_latency_ms": None, "scope": "every"})
    assert picked["name"] == "m_int8.tflite" and picked["rule"] == "within_1pt"


def test_a_target_down_means_no_file_for_every_target():
    reports = {"fast": FAST}
    picked = recommend_on_every_target(combined(reports, down=("slow",)), reports, None)
    assert picked["name"] is None and "target(s) slow failed" in picked["reason"]


def test_the_table_marks_the_file_for_every_target_and_the_markdown_explains_it():
    reports = {"fast": FAST, "slow": SLOW}
    document = combined(reports)
    document["recommended"] = recommend_on_every_target(document, reports, None)
    table = multi_target_table(document)
    assert [row[0] for row in table.cells] == ["m_float32.tflite", "★ m_int8.tflite"]
    assert table.cells[1][1] == "★ 0.500"  # the fast board's own pick, in its p50 column
    markdown = render_multi_markdown(document)
    assert markdown.startswith("# edgecomp build on 2 targets")
    assert "the artifact to ship on every target" in markdown and "Here: m_int8.tflite" in markdown


def test_a_combined_report_is_not_mistaken_for_one_run(tmp_path):
    """`edgecomp report OUT` on a multi-target folder names the per-target folders to pass instead."""
    import json

    from typer.testing import CliRunner

    from edgecomp.cli.main import app

    (tmp_path / "report.json").write_text(json.dumps(combined({"fast": FAST, "slow": SLOW})))
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code != 0
    assert "gathers a build on several targets" in result.output and str(tmp_path / "slow") in result.output
