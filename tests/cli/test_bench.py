"""`edgecomp bench` on real files: precision labels from the files, a corrupt file among good ones,
exit codes, and no TensorFlow import (in a fresh interpreter, as a user would run it)."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from edgecomp.cli.main import app

QUICK = ["--min-runs", "5", "--min-time", "0", "--accuracy-samples", "50"]
EXPECTED = {"float32": "float32", "float16": "float16", "dynamic": "dynamic", "int8": "int8",
            "int8_io": "int8_io", "uint8_io": "uint8_io", "onnx_float32": "float32", "onnx_int8": "int8"}


@pytest.fixture(scope="module")
def bench_with_a_corrupt_file(precision_files, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    corrupt = folder / "corrupt.tflite"
    corrupt.write_bytes(precision_files["int8"].read_bytes()[:600])  # a truncated download
    files = [str(precision_files[key]) for key in EXPECTED] + [str(corrupt)]
    result = CliRunner().invoke(app, ["bench", *files, *QUICK, "--out", str(folder / "out")])
    return result, json.loads((folder / "out" / "report.json").read_text())


def test_bench_labels_each_precision_from_the_file(bench_with_a_corrupt_file, precision_files):
    _, report = bench_with_a_corrupt_file
    labels = {row["name"]: row["precision"] for row in report["artifacts"]}
    for key, expected in EXPECTED.items():
        assert labels[precision_files[key].name] == expected, key
    assert labels["corrupt.tflite"] == "unknown"


def test_bench_with_one_corrupt_file_exits_1_with_every_row(bench_with_a_corrupt_file):
    result, report = bench_with_a_corrupt_file
    assert result.exit_code == 1, result.output
    assert len(report["artifacts"]) == len(EXPECTED) + 1
    statuses = {row["name"]: row["status"] for row in report["artifacts"]}
    assert statuses.pop("corrupt.tflite") == "failed"
    assert set(statuses.values()) == {"ok"}
    corrupt = next(row for row in report["artifacts"] if row["name"] == "corrupt.tflite")
    assert corrupt["error"].startswith("benchmark: runner exited with code")
    assert "1 of 9 artifact(s) failed (corrupt.tflite" in result.output


def test_bench_records_predicted_and_measured_memory(bench_with_a_corrupt_file):
    _, report = bench_with_a_corrupt_file
    for row in report["artifacts"]:
        if row["status"] == "ok":
            assert row["predicted_memory"]["weights_mb"] > 0 and "live" in row["predicted_memory"]["method"]
            assert 0 < row["model_peak_mb"] < row["process_peak_mb"]
            assert row["memory"]["method"].startswith("proc_status")


def _bench_in_fresh_python(path, out, *flags):
    args = ["bench", str(path), "--out", str(out), *QUICK, *flags]
    code = ("import sys; from typer.testing import CliRunner; from edgecomp.cli.main import app; "
            f"r = CliRunner().invoke(app, {args!r}); "
            "print(r.output, file=sys.stderr); print(r.exit_code, 'tensorflow' in sys.modules)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_bench_of_a_tflite_imports_no_tensorflow_and_is_quiet(precision_files, tmp_path):
    proc = _bench_in_fresh_python(precision_files["int8"], tmp_path)
    assert proc.stdout.split() == ["0", "False"], proc.stderr
    assert "XNNPACK" not in proc.stderr and "cuda" not in proc.stderr.lower()


def test_verbose_bench_shows_the_runtime_logging(precision_files, tmp_path):
    proc = _bench_in_fresh_python(precision_files["float32"], tmp_path, "--verbose")
    assert proc.stdout.split()[0] == "0", proc.stderr
    assert "XNNPACK" in proc.stderr
