"""The terminal table: eight columns that fit 100 (and 80) columns without folding a number, every
column with --wide, failures with their reason, the artifact to ship marked, legend and notes."""

import pytest
from rich.console import Console

from edgecomp.reporting.schema import STATUS_LEGEND
from edgecomp.reporting.tables import ARTIFACT_COLUMNS, TERMINAL_COLUMNS, artifact_cells, artifact_table
from edgecomp.reporting.terminal import render_table


def rendered(report, width=260, wide=False) -> str:
    console = Console(record=True, width=width, color_system=None)
    render_table(report, console, wide=wide)
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


@pytest.mark.parametrize("width", [100, 80])
def test_default_table_fits_without_folding_a_number(build_report, width):
    # A long name, as a user's file may have: names may fold, numbers never.
    build_report["artifacts"][1]["name"] = "mobilenet_v2_fashion_finetuned_qat_int8_per_channel.tflite"
    out = rendered(build_report, width)
    table_lines = out.split("  ok: ")[0].splitlines()
    assert max(len(line) for line in table_lines) <= width
    assert "…" not in out  # nothing cut short
    text = "\n".join(table_lines)
    for word in " ".join(column.header for column in TERMINAL_COLUMNS).split():
        assert word in text  # every default column, its header wrapped at a space at most
    table = artifact_table(build_report, TERMINAL_COLUMNS)
    numeric = [i for i, column in enumerate(TERMINAL_COLUMNS) if column.numeric]
    for row in table.cells:
        for i in numeric:
            # Each number whole on one line: one that folded would be split over two.
            assert any(row[i] in line for line in table_lines), (row[i], out)
    assert "3.88x" in text and "498.3 kB" in text and "78.9" in text


def test_default_table_has_eight_columns_and_wide_has_every_one(build_report):
    assert len(TERMINAL_COLUMNS) == 8
    out = rendered(build_report, 100, wide=True)
    header_line = next(line for line in out.splitlines() if line.startswith("artifact"))
    for column in ARTIFACT_COLUMNS:
        assert column.header in header_line
    default_header = next(line for line in rendered(build_report, 100).splitlines() if line.startswith("artifact"))
    assert "acc vs fp32" not in default_header and "status" not in default_header
    assert "-0.14 pt" in out and "182.6" in out  # accuracy delta, acc/MB of the int8 file (90.98 / 0.49832)


def test_the_artifact_to_ship_is_marked_and_explained(build_report):
    out = rendered(build_report)
    assert "★ model_int8.tflite" in out
    assert "smallest ok artifact within 1 point" in out
    assert build_report["recommended"]["name"] == "model_int8.tflite"


def test_a_failed_row_says_its_status_without_a_status_column(build_report):
    out = rendered(build_report, 100)
    assert "failed: onnxruntime:" in out and "parity failed:" in out


def test_older_report_memory_is_marked_as_the_process_peak(build_report):
    # Reports written before the model's own memory have only the process peak, `peak_rss_mb`.
    for artifact in build_report["artifacts"]:
        artifact["peak_rss_mb"] = artifact.pop("model_peak_mb", None) or artifact.get("peak_rss_mb")
    out = rendered(build_report, 100)
    assert "84.2†" in out and "the runner process's peak RSS" in out
    build_report["artifacts"][0]["model_peak_mb"] = 1.93
    cells = artifact_cells(build_report["artifacts"][0])
    assert cells[ARTIFACT_COLUMNS.index(next(c for c in ARTIFACT_COLUMNS if c.header == "model MB"))] == "1.93"


def test_missing_keys_become_dashes():
    cells = artifact_cells({"name": "bare.tflite", "status": "failed"})
    assert cells[0] == "bare.tflite" and cells[1] == "failed"
    assert set(cells[2:]) == {"—"}


def test_report_without_floor_or_artifacts(build_report):
    build_report["timing_floor_ms"] = None
    assert "Timing floor" not in rendered(build_report)
    build_report["artifacts"] = []
    assert "no artifacts" in rendered(build_report)


@pytest.mark.parametrize("width", [80, 100])
def test_a_failed_rows_reason_reads_in_whole_lines(build_report, width):
    """At 80 columns the name column is ~20 characters: a reason under the name wrapped a word or two
    per line, so it goes under the table at the terminal's width, the row pointing to it."""
    out = rendered(build_report, width)
    failed = next(a for a in build_report["artifacts"] if a["status"] == "failed")
    reason_start = " ".join(failed["error"].split()[:5])
    assert any(reason_start in line for line in out.splitlines()), out
    assert max(len(line) for line in out.split("  ok: ")[0].splitlines()) <= width
