"""The README's example table is what the current renderer makes of the committed default-build report.

A change of the terminal table's columns, cells or notes fails here until the README is regenerated:
    python benchmarks/default_build/run.py --render-only
"""

import importlib.util
import json
from pathlib import Path

from edgecomp.measure.metrics import EFFICIENCY_DEFINITIONS

ROOT = Path(__file__).resolve().parents[2]
BENCHMARK = ROOT / "benchmarks" / "default_build"


def load_script():
    spec = importlib.util.spec_from_file_location("default_build_run", BENCHMARK / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_table_equals_the_renderer_on_the_committed_report():
    script = load_script()
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index(script.TABLE_START), readme.index(script.TABLE_END) + len(script.TABLE_END)
    report = json.loads((BENCHMARK / "report.json").read_text())
    assert readme[start:end] == script.readme_table(report), (
        "README's table is stale: run `python benchmarks/default_build/run.py --render-only`")


def test_readme_numbers_are_the_committed_measurements():
    readme = (ROOT / "README.md").read_text()
    report = json.loads((BENCHMARK / "report.json").read_text())
    int8 = next(a for a in report["artifacts"] if a["name"] == "model_qat_int8.tflite")
    assert f"{100 * int8['accuracy']:.2f}%" in readme and f"{int8['vs_float32']['size_ratio']:.2f}x" in readme


def test_readme_defines_each_efficiency_figure_as_the_legend_does():
    readme = (ROOT / "README.md").read_text()
    for sentence in EFFICIENCY_DEFINITIONS.values():
        assert sentence in readme


def test_readme_quantization_figures_are_the_committed_results():
    """The README's quantization table and sentence are made from benchmarks/quantization/results.json:
    `python benchmarks/quantization/run.py --render-only --out RUNS` rewrites them with the results."""
    folder = ROOT / "benchmarks" / "quantization"
    spec = importlib.util.spec_from_file_location("quantization_run", folder / "run.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    readme = (ROOT / "README.md").read_text()
    results = json.loads((folder / "results.json").read_text())
    assert script.readme_table(results) in readme and script.readme_found(results) in readme, (
        "README's quantization figures are stale: re-render benchmarks/quantization")
