"""`edgecomp bench`: benchmarking model files a user brings. No Keras model, so no parity check,
but the same numbers and the same report as a build."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from edgecomp.core.errors import ModelLoadError
from edgecomp.core.files import gzip_size
from edgecomp.core.records import ArtifactRecord
from edgecomp.core.verbosity import THIRD_PARTY_LOG, quiet_third_party
from edgecomp.data.dataset import load_dataset
from edgecomp.measure.precision import describe_precision
from edgecomp.plan.plan import BenchConfig, Plan
from edgecomp.reporting.assemble import assemble_report, write_reports
from edgecomp.run.artifacts import bench_artifacts
from edgecomp.run.quant_artifacts import describe_deployables
from edgecomp.targets.host import host_facts

SUFFIX_FORMATS = {".tflite": "tflite", ".onnx": "onnx"}


def describe_file(path: Path) -> ArtifactRecord:
    """The record of a file to benchmark: size, gzip size and precision, read from the file and its model card.

    A file whose graph cannot be read keeps its row, precision "unknown": the benchmark then says why.

    Raises:
        ModelLoadError: The file is missing or not a .tflite / .onnx file.
    """

    if not path.is_file():
        raise ModelLoadError(f"artifact {path} does not exist.")
    if path.suffix not in SUFFIX_FORMATS:
        raise ModelLoadError(f"{path} is not a .tflite or .onnx file.")
    try:
        read = describe_precision(path)
        precision = read.pop("precision")
    except ModelLoadError as err:
        precision, read = "unknown", {"error": str(err)}
    return ArtifactRecord(name=path.name, format=SUFFIX_FORMATS[path.suffix], precision=precision,
                          precision_read=read, path=str(path.resolve()), size_bytes=path.stat().st_size,
                          gzip_bytes=gzip_size(path))

def run_bench(paths: list[Path], dataset: str, target, settings: BenchConfig, run_dir: Path,
              command: str = "", gates: Optional[dict] = None) -> dict:
    """Benchmarks each file on the target and writes report.json / report.md in `run_dir`.

    `gates` (the command's quality gates) are recorded and pick the recommended artifact.
    Third-party output goes to `run_dir/third_party.log` unless verbose (`edgecomp.core.verbosity`).
    """

    with quiet_third_party(run_dir / THIRD_PARTY_LOG):
        return _run_bench(paths, dataset, target, settings, run_dir, command, gates)

def _run_bench(paths: list[Path], dataset: str, target, settings: BenchConfig, run_dir: Path,
               command: str, gates: Optional[dict]) -> dict:
    started = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    artifacts = [describe_file(Path(p)) for p in paths]
    target_facts = target.check()
    data = load_dataset(dataset, test_limit=settings.accuracy_samples)
    floor = bench_artifacts(artifacts, data, run_dir, target, settings)
    describe_deployables(artifacts, run_dir, data, write_cards=False)  # the tflite-runtime 2.14 check
    plan = Plan(name="bench", stages=[], dataset={"name": dataset}, bench=settings)
    report = assemble_report(plan=plan, data=data, run_dir=run_dir, stages=[],
                             keras_info={"accuracy": None, "params": None}, artifacts=artifacts,
                             timing_floor=floor, target=target, target_facts=target_facts, host=host_facts(),
                             command=command, wall_seconds=time.perf_counter() - started, gates=gates)
    write_reports(report, run_dir)
    return report

