"""One row model per table: the terminal, markdown and HTML views show the same header and cells."""

from html import escape

from rich.console import Console

from edgecomp.reporting.html import html_table
from edgecomp.reporting.markdown import markdown_table
from edgecomp.reporting.tables import ARTIFACT_COLUMNS, artifact_table, compare_table, parity_table
from edgecomp.reporting.terminal import rich_table


def terminal_text(table) -> str:
    console = Console(record=True, width=400, color_system=None)
    console.print(rich_table(table, "t"))
    return console.export_text()


def test_every_format_shows_the_same_cells(build_report):
    table = artifact_table(build_report)
    markdown, page, terminal = markdown_table(table), html_table(table), terminal_text(table)
    assert markdown.splitlines()[0] == "| " + " | ".join(table.header) + " |"
    for header in table.header:
        assert f"<th>{escape(header)}</th>" in page
        assert header in terminal
    for row in table.cells:
        assert "| " + " | ".join(row) + " |" in markdown
        for cell in row:
            assert cell in terminal


def test_columns_are_a_list_not_positions(build_report):
    """A table with another column list renders those columns in every format."""
    picked = [c for c in ARTIFACT_COLUMNS if c.header in ("accuracy", "artifact", "p50 ms")]
    table = artifact_table(build_report, columns=picked)
    assert markdown_table(table).splitlines()[0] == "| artifact | accuracy | p50 ms |"
    assert table.cells[1] == ["★ model_int8.tflite", "90.98%", "0.185"]  # the artifact to ship, marked
    # The failure reason follows the artifact column wherever it stands.
    page = html_table(artifact_table(build_report, columns=list(reversed(picked))))
    assert 'model_int8.onnx<div class="error">onnxruntime: Could not find' in page


def test_errors_show_under_the_name_and_numbers_align_right(build_report):
    page = html_table(artifact_table(build_report))
    assert '<tr class="failed"><td>model_int8.onnx<div class="error">' in page
    assert '<td class="status-parity_failed">parity failed</td>' in page
    assert '<td class="num">1.93 MB</td>' in page
    assert "ConvInteger(10)" in terminal_text(artifact_table(build_report))


def test_parity_rows_only_for_checked_artifacts(build_report):
    table = parity_table(build_report)
    assert [row[0] for row in table.cells] == ["model_float32.tflite", "model_int8.tflite", "model_float32.onnx"]
    assert table.cells[2][-1] == "NO"


def test_dominated_rows_are_marked(build_report, pruned_report):
    from edgecomp.reporting.compare import compare_runs

    page = html_table(compare_table(compare_runs([build_report, pruned_report])))
    assert '<tr class="ok dominated">' in page
