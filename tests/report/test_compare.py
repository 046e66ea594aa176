"""Several runs side by side, dominated variants marked across runs of the same target."""

import csv
import io
import json

from edgecomp.report.compare import compare_csv, compare_html, compare_json, compare_markdown, compare_runs


def by_key(rows):
    return {(r["run"], r["artifact"]): r for r in rows}


def test_dominated_marking_across_runs(build_report, pruned_report):
    rows = by_key(compare_runs([build_report, pruned_report]))
    assert len(rows) == 6
    # Pruning kept the raw size, lost accuracy and got slower: both its files are dominated by the build's.
    assert rows[("pruned", "model_int8.tflite")]["dominated"] is True
    assert rows[("pruned", "model_int8.tflite")]["dominated_by"] == "build/model_int8.tflite"
    assert rows[("pruned", "model_float32.tflite")]["dominated_by"] == "build/model_float32.tflite"
    assert rows[("build", "model_int8.tflite")]["dominated"] is False
    assert rows[("build", "model_float32.tflite")]["dominated"] is False
    # The failed artifact has no numbers: neither dominated nor not.
    assert rows[("build", "model_int8.onnx")]["dominated"] is None
    # float32 onnx: beaten on size by float32 tflite, but faster, so not dominated overall.
    onnx = rows[("build", "model_float32.onnx")]
    assert onnx["dominated_size"] is True and onnx["dominated_latency"] is False and onnx["dominated"] is False


def test_runs_on_other_targets_are_not_compared(build_report, pruned_report):
    pruned_report["target"] = {"name": "rpi4", "kind": "ssh", "facts": {}}
    rows = by_key(compare_runs([build_report, pruned_report]))
    assert rows[("pruned", "model_int8.tflite")]["dominated"] is False


def test_same_run_names_are_disambiguated(build_report):
    rows = compare_runs([build_report, build_report])
    assert {r["run"] for r in rows} == {"build", "build#2"}


def test_renderers(build_report, pruned_report):
    rows = compare_runs([build_report, pruned_report])
    markdown = compare_markdown(rows)
    assert "| pruned | host | ★ model_int8.tflite |" in markdown and "build/model_int8.tflite" in markdown
    parsed = list(csv.DictReader(io.StringIO(compare_csv(rows))))
    assert len(parsed) == 6 and parsed[0]["size_bytes"] == "1931264" and parsed[3]["accuracy"] == ""
    assert json.loads(compare_json(rows))["rows"][4]["dominated_by"] == "build/model_float32.tflite"
    page = compare_html(rows)
    assert page.count("data:image/png;base64,") == 2 and 'class="ok dominated"' in page
