"""Reading older report.json versions: version 2 kept a target's notes among an artifact's own keys."""

import copy
import json

from edgecomp.reporting.compare import compare_runs, load_report
from edgecomp.reporting.markdown import render_markdown
from edgecomp.reporting.schema import SCHEMA_VERSION, upgrade


def write_run(folder, report: dict):
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(report))
    return folder


def as_version_2(report: dict, emulated: bool = False) -> dict:
    """The report as version 2 wrote it: notes flat, `emulated` only where true, host checks flat."""
    old = copy.deepcopy(report)
    old["schema_version"] = 2
    for artifact in old["artifacts"]:
        artifact.pop("emulated", None)
        if artifact["status"] != "failed":
            artifact.update(temperature_c_before=48.3, temperature_c_after=51.2)
            if emulated:
                artifact.update(emulated=True, host_accuracy=artifact["accuracy"], host_runtime=artifact["runtime"],
                                accuracy_vs_host_points=0.0)
    if emulated:
        old["target"] = {"name": "rpi4-emulated", "kind": "ssh", "facts": {"emulated": True}}
    return old


def test_a_version_2_report_reads_with_its_notes_under_target_notes(build_report, tmp_path):
    report = load_report(write_run(tmp_path / "v2", as_version_2(build_report)))
    assert report["schema_version"] == SCHEMA_VERSION == 3 and report["upgraded_from"] == 2
    measured, failed = report["artifacts"][0], report["artifacts"][3]
    assert measured["target_notes"] == {"temperature_c_before": 48.3, "temperature_c_after": 51.2}
    assert "temperature_c_before" not in measured and measured["emulated"] is False
    assert "target_notes" not in failed and "emulated" not in failed
    for key in ("accuracy", "latency_ms", "size_bytes", "acc_per_mb", "acc_per_ms", "vs_float32"):
        assert measured[key] == build_report["artifacts"][0][key], key  # no measured number changes
    assert "model_int8.tflite" in render_markdown(report)


def test_a_version_2_emulated_report_stays_emulated_with_its_host_check(build_report, tmp_path):
    report = load_report(write_run(tmp_path / "v2", as_version_2(build_report, emulated=True)))
    artifact = report["artifacts"][1]
    assert artifact["emulated"] is True and artifact["accuracy_vs_host_points"] == 0.0
    assert "Board vs host accuracy" in render_markdown(report)
    rows = compare_runs([report, build_report], labels=["emulated", "host"])
    assert all(r["emulated"] for r in rows if r["run"] == "emulated")
    assert not any(r["emulated"] for r in rows if r["run"] == "host")


def test_a_current_report_is_left_as_it_is(build_report):
    before = copy.deepcopy(build_report)
    assert upgrade(build_report) == before
