"""Several runs side by side, dominated variants marked across runs of the same target."""

import csv
import io
import json

from edgecomp.reporting.compare import compare_csv, compare_html, compare_json, compare_markdown, compare_runs


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


def test_runs_on_different_sample_counts_are_flagged_and_never_dominate(build_report, pruned_report_1000):
    # The pruned run: accuracy on 1,000 images, the build's on 10,000. Compared, it would be dominated.
    rows = compare_runs([build_report, pruned_report_1000])
    by = by_key(rows)
    assert by[("build", "model_int8.tflite")]["group"] == "A" and by[("pruned", "model_int8.tflite")]["group"] == "B"
    assert "accuracy on 1,000 images" in by[("pruned", "model_int8.tflite")]["measured_on"]
    assert by[("pruned", "model_int8.tflite")]["dominated"] is False
    assert by[("pruned", "model_float32.tflite")]["dominated"] is False
    assert all(not (row["dominated_by"] or "").startswith("build/") for row in rows if row["run"] == "pruned")
    # The flag in every format.
    markdown = compare_markdown(rows)
    assert markdown.splitlines()[2].startswith("**NOT ALL COMPARABLE") and "| group |" in markdown
    assert "NOT ALL COMPARABLE" in compare_html(rows) and "<th>group</th>" in compare_html(rows)
    parsed = list(csv.DictReader(io.StringIO(compare_csv(rows))))
    assert {r["group"] for r in parsed} == {"A", "B"} and parsed[-1]["accuracy_samples"] == "1000"
    document = json.loads(compare_json(rows))
    assert document["comparable"] is False and set(document["groups"]) == {"A", "B"}


def test_same_images_same_target_are_one_group(build_report, pruned_report):
    rows = compare_runs([build_report, pruned_report])
    assert {row["group"] for row in rows} == {"A"}
    assert "NOT ALL COMPARABLE" not in compare_markdown(rows) and "| group |" not in compare_markdown(rows)
    assert json.loads(compare_json(rows))["comparable"] is True


def test_a_different_test_set_is_another_group(build_report, pruned_report):
    pruned_report["dataset"]["source"] = "/home/me/fashion-mnist-relabelled"
    rows = by_key(compare_runs([build_report, pruned_report]))
    assert rows[("pruned", "model_int8.tflite")]["group"] == "B"
    assert rows[("pruned", "model_int8.tflite")]["dominated"] is False
