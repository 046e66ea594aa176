"""The `auto` search's steps as a table in report.md and report.html (edgecomp.reporting.mixed_precision)."""

from __future__ import annotations

import copy

from edgecomp.reporting.html import render_html
from edgecomp.reporting.markdown import render_markdown
from edgecomp.reporting.mixed_precision import auto_steps_table, layer_label, searched

# An `auto` record as auto_mixed_precision writes it: the all-int8 file 0.8 pt short, one layer and the op
# writing its input raised to 16-bit activations, then within max_drop.
AUTO_RECORD = {
    "recipe": "auto", "layers": {"int8 weights / int8 activations": 7, "int8 weights / int16 activations": 2},
    "left_float": [],
    "auto": {"float_accuracy": 92.5, "max_drop": 0.5, "met": True,
             "steps": [{"moved": [], "precision": "a8w8", "accuracy": 91.7, "bytes": 401_000},
                       {"moved": ["cnn_teacher/logits/MatMul;cnn_teacher/logits/BiasAdd",
                                  "cnn_teacher/<pool>/Mean"], "precision": "a16w8", "accuracy": 92.3,
                        "bytes": 402_500}],
             "layers": []},
}


def with_auto(report: dict) -> dict:
    report = copy.deepcopy(report)
    auto = copy.deepcopy(report["artifacts"][1])  # the int8 .tflite's measurements
    auto.update(name="model_auto.tflite", precision="auto", quantizer=AUTO_RECORD)
    report["artifacts"].append(auto)
    return report


def test_one_row_per_step_with_the_drop_against_float(build_report):
    report = with_auto(build_report)
    (artifact,) = searched(report)
    table = auto_steps_table(artifact)
    assert table.header == ["step", "layers moved", "precision", "validation accuracy", "drop vs float", "size"]
    assert table.cells == [
        ["0", "none: every layer int8", "a8w8", "91.70%", "0.80 pt", "401.0 kB"],
        ["1", "cnn_teacher/logits/MatMul, cnn_teacher/<pool>/Mean", "a16w8", "92.30%", "0.20 pt", "402.5 kB"],
    ]


def test_long_layer_names_are_cut_from_the_left():
    name = "model/" + "block_" * 20 + "conv/Conv2D;model/bn/FusedBatchNormV3"
    label = layer_label(name)
    assert len(label) == 60 and label.startswith("…") and label.endswith("conv/Conv2D")


def test_markdown_and_html_show_the_steps_only_for_an_auto_artifact(build_report):
    assert "Mixed precision search" not in render_markdown(build_report)
    assert "Mixed precision search" not in render_html(build_report, plots={})
    report = with_auto(build_report)
    markdown = render_markdown(report)
    assert "## Mixed precision search (auto)" in markdown and "### `model_auto.tflite`" in markdown
    assert "| 1 | cnn_teacher/logits/MatMul, cnn_teacher/<pool>/Mean | a16w8 | 92.30% | 0.20 pt |" in markdown
    assert "float32 92.50% on the validation split, max_drop 0.5 pt" in markdown
    page = render_html(report, plots={})
    assert "<h2>Mixed precision search (auto)</h2>" in page and "<h3>model_auto.tflite</h3>" in page
    assert "cnn_teacher/&lt;pool&gt;/Mean" in page and "<pool>" not in page  # layer names are escaped
