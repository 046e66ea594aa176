"""The terminal table: one row per artifact, failures with their reason, legend and timing floor."""

from rich.console import Console

from edgecomp.report.schema import STATUS_LEGEND
from edgecomp.report.tables import artifact_cells
from edgecomp.report.terminal import render_table


def rendered(report) -> str:
    console = Console(record=True, width=260, color_system=None)
    render_table(report, console)
    return console.export_text()


def test_rows_legend_and_floor(build_report):
    out = rendered(build_report)
    for name in ["model_float32.tflite", "model_int8.tflite", "model_float32.onnx", "model_int8.onnx"]:
        assert name in out
    assert "parity failed" in out and "ConvInteger(10)" in out
    for meaning in STATUS_LEGEND.values():
        assert meaning in out
    assert "Timing floor" in out and "p50 0.012 ms" in out
    assert "1.93 MB" in out and "498.3 kB" in out and "90.98%" in out
    assert "3.88x" in out  # int8 vs float32 size ratio


def test_missing_keys_become_dashes():
    cells = artifact_cells({"name": "bare.tflite", "status": "failed"})
    assert cells[0] == "bare.tflite" and cells[1] == "failed"
    assert set(cells[2:]) == {"—"}


def test_report_without_floor_or_artifacts(build_report):
    build_report["timing_floor_ms"] = None
    assert "Timing floor" not in rendered(build_report)
    build_report["artifacts"] = []
    assert "no artifacts" in rendered(build_report)
