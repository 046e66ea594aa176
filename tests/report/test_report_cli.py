"""`edgecomp report` through Typer's CliRunner on tmp run folders."""

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from edgecomp.cli.report import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("report_format", ["md", "csv", "json"])
def test_one_run_to_stdout(build_run_dir, report_format):
    result = invoke(build_run_dir, "--format", report_format)
    assert result.exit_code == 0, result.output
    if report_format == "md":
        assert result.stdout.startswith("# edgecomp report: build") and "model_int8.onnx" in result.stdout
    elif report_format == "csv":
        assert len(list(csv.DictReader(io.StringIO(result.stdout)))) == 4
    else:
        assert json.loads(result.stdout)["artifacts"][1]["name"] == "model_int8.tflite"


def test_one_run_html_goes_beside_report_json(build_run_dir):
    result = invoke(build_run_dir, "--format", "html")
    assert result.exit_code == 0, result.output
    assert (build_run_dir / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert "wrote" in result.stderr


@pytest.mark.parametrize("report_format", ["md", "csv", "json", "html"])
def test_compare_two_runs_to_a_file(build_run_dir, pruned_run_dir, tmp_path, report_format):
    output = tmp_path / f"comparison.{report_format}"
    result = invoke(build_run_dir, pruned_run_dir, "-f", report_format, "-o", output)
    assert result.exit_code == 0, result.output
    assert "build/model_int8.tflite" in output.read_text()  # the pruned int8 is dominated by it


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
