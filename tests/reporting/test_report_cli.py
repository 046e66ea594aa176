"""`edgecomp report` through Typer's CliRunner on tmp run folders."""

import csv
import io
import json
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

from edgecomp.cli.report import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


class _Tables(HTMLParser):
    """Every <table> of a page as rows of (tr class, [cell text]), the header row first; a row's
    note (the <div> under an artifact's name, its error) is left out of the cell."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell, self._in_note = [], None, False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append((dict(attrs).get("class", ""), []))
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "div":
            self._in_note = True

    def handle_endtag(self, tag):
        if tag == "div":
            self._in_note = False
        elif tag in ("td", "th"):
            self.tables[-1][-1][1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None and not self._in_note:
            self._cell.append(data)


def html_rows(page: str, first_header: str) -> list[tuple[str, dict]]:
    """The rows of the page's table whose first header is `first_header`, as (tr class, {header: cell})."""
    parser = _Tables()
    parser.feed(page)
    table = next(t for t in parser.tables if t and t[0][1][0] == first_header)
    header = table[0][1]
    return [(classes, dict(zip(header, cells))) for classes, cells in table[1:]]


def markdown_rows(text: str, first_header: str) -> list[dict]:
    """The rows of the markdown table whose first header is `first_header`, as {header: cell}."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    split = (lambda line: [cell.strip() for cell in line.strip().strip("|").split("|")])
    header, rows = split(lines[start]), []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, split(line))))
    return rows


def check_build_artifact_rows(rows: dict) -> None:
    """The build report's artifact rows (conftest.build_artifacts), keyed by the artifact cell."""
    # ★: the smallest ok artifact within 1 point of the most accurate (90.98% vs 91.12%, 498.3 kB).
    assert set(rows) == {"model_float32.tflite", "★ model_int8.tflite", "model_float32.onnx", "model_int8.onnx"}
    int8 = rows["★ model_int8.tflite"]
    assert (int8["status"], int8["size"], int8["gzip"], int8["accuracy"]) == ("ok", "498.3 kB", "402.1 kB", "90.98%")
    # Against the float32 .tflite: 1,931,264 / 498,320 bytes; 90.98% - 91.12%.
    assert (int8["x smaller"], int8["acc vs fp32"]) == ("3.88x", "-0.14 pt")
    assert rows["model_float32.tflite"]["size"] == "1.93 MB" and rows["model_float32.tflite"]["x smaller"] == "—"
    # The .onnx files are compared with the float32 .onnx (itself: no ratio), never with the .tflite.
    onnx = rows["model_float32.onnx"]
    assert (onnx["status"], onnx["accuracy"], onnx["x smaller"]) == ("parity failed", "91.05%", "—")
    failed = rows["model_int8.onnx"]
    assert (failed["status"], failed["size"], failed["accuracy"]) == ("failed", "—", "—")


@pytest.mark.parametrize("report_format", ["md", "csv", "json"])
def test_one_run_to_stdout(build_run_dir, report_format):
    result = invoke(build_run_dir, "--format", report_format)
    assert result.exit_code == 0, result.output
    if report_format == "md":
        assert result.stdout.startswith("# edgecomp report: build")
        check_build_artifact_rows({row["artifact"]: row for row in markdown_rows(result.stdout, "artifact")})
    elif report_format == "csv":
        assert len(list(csv.DictReader(io.StringIO(result.stdout)))) == 4
    else:
        assert json.loads(result.stdout)["artifacts"][1]["name"] == "model_int8.tflite"


def test_one_run_html_goes_beside_report_json(build_run_dir):
    result = invoke(build_run_dir, "--format", "html")
    assert result.exit_code == 0, result.output
    page = (build_run_dir / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "wrote" in result.stderr
    check_build_artifact_rows({cells["artifact"]: cells for _, cells in html_rows(page, "artifact")})


def comparison_rows(text: str, report_format: str) -> dict:
    """{(run, artifact without its ★): (dominated by, row marked dominated, ★)} from a written comparison."""
    def entry(run, artifact, dominated_by, marked):
        return (run, artifact.removeprefix("★ ")), (dominated_by, marked, artifact.startswith("★ "))

    if report_format == "md":
        return dict(entry(r["run"], r["artifact"], r["dominated by"], r["dominated by"] not in ("not dominated", "—"))
                    for r in markdown_rows(text, "run"))
    if report_format == "html":
        return dict(entry(r["run"], r["artifact"], r["dominated by"],
                          "dominated" in classes.split()) for classes, r in html_rows(text, "run"))
    rows = list(csv.DictReader(io.StringIO(text))) if report_format == "csv" else json.loads(text)["rows"]
    return dict(entry(r["run"], ("★ " if str(r["recommended"]) == "True" else "") + r["artifact"],
                      r["dominated_by"] or ("not dominated" if str(r["dominated"]) == "False" else "—"),
                      str(r["dominated"]) == "True") for r in rows)


@pytest.mark.parametrize("report_format", ["md", "csv", "json", "html"])
def test_compare_two_runs_to_a_file(build_run_dir, pruned_run_dir, tmp_path, report_format):
    output = tmp_path / f"comparison.{report_format}"
    result = invoke(build_run_dir, pruned_run_dir, "-f", report_format, "-o", output)
    assert result.exit_code == 0, result.output
    rows = comparison_rows(output.read_text(), report_format)
    # The pruned run kept the raw size, lost accuracy and got slower (conftest.pruned_report): its int8
    # is dominated by the build's int8; its float32 by one of the build's .tflite files.
    assert rows[("pruned", "model_int8.tflite")] == ("build/model_int8.tflite", True, True)
    by, marked, _ = rows[("pruned", "model_float32.tflite")]
    assert marked and by in {"build/model_float32.tflite", "build/model_int8.tflite"}
    assert rows[("build", "model_int8.tflite")] == ("not dominated", False, True)
    assert rows[("build", "model_float32.tflite")] == ("not dominated", False, False)
    assert rows[("build", "model_float32.onnx")] == ("not dominated", False, False)  # larger but faster
    assert rows[("build", "model_int8.onnx")] == ("—", False, False)  # failed: no numbers to compare


def test_compare_html_needs_an_output(build_run_dir, pruned_run_dir):
    result = invoke(build_run_dir, pruned_run_dir, "--format", "html")
    assert result.exit_code == 2 and "--output" in result.stderr


def test_missing_and_corrupt_report_are_one_clear_line(tmp_path, build_run_dir):
    result = invoke(tmp_path / "nowhere")
    assert result.exit_code == 1 and "no report at" in result.stderr and "does not exist" in result.stderr
    (build_run_dir / "report.json").write_text('{"artifacts": [')
    result = invoke(build_run_dir)
    assert result.exit_code == 1
    assert "is not readable JSON" in result.stderr and "Traceback" not in result.output
    (build_run_dir / "report.json").write_text('{"schema_version": 1}')
    assert "is not an edgecomp report" in invoke(build_run_dir).stderr


def test_gates_exit_3_and_name_the_miss(build_run_dir):
    result = invoke(build_run_dir, "--format", "json", "--max-size-mb", "1", "--gate-scope", "any")
    assert result.exit_code == 0, result.output
    result = invoke(build_run_dir, "--format", "json", "--max-size-mb", "1")
    assert result.exit_code == 3
    assert "model_float32.tflite: size 1.93 MB > --max-size-mb 1" in result.stderr
    result = invoke(build_run_dir, "--min-accuracy", "0.9")
    assert result.exit_code == 2 and "percent" in result.stderr


def test_help_explains_formats_and_percent_gate():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "160"})
    assert result.exit_code == 0
    assert "md|html|csv|json" in result.output and "RUN_DIR/report.html" in result.output
    assert "accuracy in percent" in result.output


def test_table_format_is_the_terminal_table_and_wide_adds_every_column(build_run_dir):
    result = runner.invoke(app, [str(build_run_dir), "--format", "table"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if line.startswith("artifact"))
    assert "x smaller" in header and "gzip" not in header and max(map(len, result.stdout.splitlines())) <= 100
    result = runner.invoke(app, [str(build_run_dir), "--format", "table", "--wide"], env={"COLUMNS": "100"})
    header = next(line for line in result.stdout.splitlines() if line.startswith("artifact"))
    assert "gzip" in header and "acc/gzip MB" in header and "acc vs fp32" in header


def test_wide_is_refused_for_files_that_keep_every_field(build_run_dir):
    result = invoke(build_run_dir, "--format", "md", "--wide")
    assert result.exit_code == 2 and "--wide is for --format table" in result.stderr


def test_comparing_10000_and_1000_image_runs_is_flagged_in_the_table(build_run_dir, tmp_path, pruned_report_1000):
    small = tmp_path / "small"
    small.mkdir()
    (small / "report.json").write_text(json.dumps(pruned_report_1000))
    result = runner.invoke(app, [str(build_run_dir), str(small), "--format", "table"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("NOT ALL COMPARABLE") and "accuracy on 1,000 images" in result.stdout
    assert "build/" not in result.stdout  # nothing in the small run is dominated by the build's rows
