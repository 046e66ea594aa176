"""Predicted vs measured memory footprint of the zoo models at each precision, in one run.

Each zoo model (cnn-teacher, cnn-assistant, cnn-student, cnn-tiny) is trained for one epoch on
6,000 Fashion-MNIST images (enough for int8 calibration to be realistic; accuracy is not the point
here), exported to .tflite float32 / float16 / dynamic / int8 and .onnx float32, and all 20 files
are benchmarked by `edgecomp bench`'s own code path (`run_bench`) on the host in one call. The
prediction is read from each file (edgecomp.measure.footprint); the measurement is the runner's
(model_load_mb / model_peak_mb: resident memory after load / at peak minus before the model).
The timing-floor model (one 1x1 dense) is benchmarked too: its footprint is the runtime's fixed
cost of loading any model (interpreter, XNNPACK delegate), which the prediction leaves out.

Usage: .venv/bin/python benchmarks/memory/run.py [--out RUN_DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

MODELS = ["cnn-teacher", "cnn-assistant", "cnn-student", "cnn-tiny"]
TFLITE_PRECISIONS = ["float32", "float16", "dynamic", "int8"]


def export_all(out: Path, data) -> list[Path]:
    from edgecomp.compress.train import fit
    from edgecomp.core.tfenv import seed_everything
    from edgecomp.exporters.onnx import keras_to_onnx
    from edgecomp.exporters.tflite import keras_to_tflite
    from edgecomp.models.zoo import build_zoo_model

    files = []
    for name in MODELS:
        seed_everything(0)
        model = build_zoo_model(name, data.input_shape, data.num_classes)
        # Batch 32: enough steps in one epoch for BatchNorm's moving statistics to settle.
        fit(model, data, epochs=1, batch_size=32, learning_rate=2e-3, label=name)
        for precision in TFLITE_PRECISIONS:
            files.append(keras_to_tflite(model, out / f"{name}_{precision}.tflite", precision,
                                         calibration_images=data.images("train", 500)))
        files.append(keras_to_onnx(model, out / f"{name}_float32.onnx"))
    return files


def runtime_fixed_cost(out: Path) -> dict:
    """The runner's memory result on the timing-floor model (a (1, 1) input, so its own sample)."""
    import numpy as np

    from edgecomp.measure.timing_floor import TIMING_FLOOR_PATH
    from edgecomp.plan.plan import BenchConfig
    from edgecomp.targets.host import HostTarget

    sample = out / "floor_sample.npz"
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((1, 1), np.float32), y=np.zeros((1,), np.int64))
    sample.write_bytes(buffer.getvalue())
    outcome = HostTarget().bench([TIMING_FLOOR_PATH], sample, BenchConfig(min_runs=50, min_time_s=0.2))[0]
    return {k: outcome.result[k] for k in ("model_load_mb", "model_peak_mb", "process_peak_mb", "memory")}


def fmt(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def render(report: dict, floor: dict, command: str) -> tuple[str, dict]:
    rows, lines = [], []
    for a in report["artifacts"]:
        predicted = a.get("predicted_memory") or {}
        row = {"artifact": a["name"], "format": a["format"], "precision": a["precision"], "status": a["status"],
               "size_bytes": a.get("size_bytes"), "accuracy_pct": None if a.get("accuracy") is None
               else 100 * a["accuracy"], "predicted_weights_mb": predicted.get("weights_mb"),
               "predicted_activations_mb": predicted.get("activations_mb"),
               "predicted_total_mb": predicted.get("total_mb"), "measured_load_mb": a.get("model_load_mb"),
               "measured_peak_mb": a.get("model_peak_mb"), "process_peak_mb": a.get("process_peak_mb"),
               "error": a.get("error")}
        if row["measured_peak_mb"] is not None and row["predicted_total_mb"] is not None:
            row["measured_minus_predicted_mb"] = row["measured_peak_mb"] - row["predicted_total_mb"]
            # The floor is a LiteRT model: its fixed cost says nothing about onnxruntime's.
            if a["format"] == "tflite":
                row["measured_minus_fixed_cost_mb"] = row["measured_peak_mb"] - floor["model_peak_mb"]
        rows.append(row)
        lines.append(
            f"| {row['artifact']} | {row['precision']} | {fmt(row['size_bytes'] and row['size_bytes'] / 1e3, '.1f')} "
            f"| {fmt(row['predicted_weights_mb'], '.3f')} | {fmt(row['predicted_activations_mb'], '.3f')} "
            f"| {fmt(row['predicted_total_mb'], '.3f')} | {fmt(row['measured_load_mb'], '.2f')} "
            f"| {fmt(row['measured_peak_mb'], '.2f')} | {fmt(row.get('measured_minus_fixed_cost_mb'), '.2f')} "
            f"| {fmt(row['process_peak_mb'], '.1f')} | {fmt(row['accuracy_pct'], '.2f')} |")
    versions = report["versions"]
    method = next((a["predicted_memory"]["method"] for a in report["artifacts"] if a.get("predicted_memory")), "")
    memory_method = next((a["memory"]["method"] for a in report["artifacts"] if a.get("memory")), "")
    md = "\n".join([
        "# Memory: predicted from the file vs measured by the runner",
        "",
        f"Command: `{command}` ({report['created']}, {report['wall_seconds']} s for the bench). Host: "
        f"{report['host']['cpu']}, {report['host']['cores']} cores. Versions: python {versions['python']}, "
        f"numpy {versions['numpy']}, ai-edge-litert {versions['ai-edge-litert']}, "
        f"onnxruntime {versions['onnxruntime']}, tensorflow {versions['tensorflow']}. One thread, "
        f"{report['artifacts'][0].get('accuracy_samples')} test images; each zoo model trained for one epoch "
        "on 6,000 images.",
        "",
        "| artifact | precision | file kB | predicted weights MB | predicted activations MB | predicted total MB "
        "| measured load MB | measured peak MB | peak minus LiteRT fixed cost MB | process peak MB | accuracy % |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *lines,
        "",
        f"Runtime fixed cost (the timing-floor model, one 1x1 dense, same runner): load "
        f"{floor['model_load_mb']:.2f} MB, peak {floor['model_peak_mb']:.2f} MB, process peak "
        f"{floor['process_peak_mb']:.1f} MB. It is a LiteRT figure; onnxruntime's fixed cost is larger "
        "(compare the smallest .onnx row with its prediction). See notes.md for what the differences are.",
        "",
        f"Predicted: {method}.",
        "",
        f"Measured ({memory_method}): resident memory after loading and allocating tensors (load) and the "
        "peak until the end of inference (peak), each minus the runner's resident memory just before the "
        "model was created (test images held as uint8, runtime library imported). MB = 10^6 bytes.",
    ]) + "\n"
    return md, {"command": command, "report_created": report["created"], "versions": versions,
                "host": report["host"], "runtime_fixed_cost": floor, "predicted_method": method,
                "measured_method": memory_method, "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "memory-benchmark")
    args = parser.parse_args()
    from edgecomp.data.dataset import load_dataset
    from edgecomp.plan.plan import BenchConfig
    from edgecomp.run.existing_files import run_bench
    from edgecomp.targets.host import HostTarget

    started = time.perf_counter()
    files_dir = args.out / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    data = load_dataset("fashion_mnist", train_limit=6000, test_limit=1000, seed=0)
    files = export_all(files_dir, data)
    settings = BenchConfig(threads=1, warmup=10, min_runs=100, min_time_s=0.5, accuracy_samples=1000)
    command = "python benchmarks/memory/run.py"
    report = run_bench(files, "fashion_mnist", HostTarget(), settings, args.out / "bench", command=command)
    floor = runtime_fixed_cost(args.out)
    md, results = render(report, floor, command)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    (HERE / "results.md").write_text(md)
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
