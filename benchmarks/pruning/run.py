"""Pruning benchmark on Fashion-MNIST with the cached zoo teacher (cnn-teacher).

Part A: unstructured local vs global magnitude pruning at 50/75/90% sparsity: test accuracy,
sparsity read back from the float32 .tflite, raw and gzip size, accuracy per gzip MB.
Part B: structured pruning (remove filters/units by L1 norm) of conv vs dense vs both at
25/50/75%: accuracy, params, MACs, raw .tflite size, host latency p50 (edgecomp's runner via
HostTarget) and the speed-up over the unpruned teacher measured in the same run.

Usage: .venv/bin/python benchmarks/pruning/run.py [--finetune-train N] [--epochs E] [--quick]
Writes benchmarks/pruning/results.md and results.json beside this script.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from edgecomp.core.tfenv import keras, seed_everything, tf, tfmot  # noqa: E402


def load_teacher(data, work: Path):
    """Loads the cached cnn-teacher (10 epochs, default train settings) through the train stage."""
    from edgecomp.compress.context import RunContext
    from edgecomp.plan.plan import Plan
    from edgecomp.run.pipeline import run_stages

    # Through the pipeline, so the teacher comes from the stage cache (the same entry as a build's).
    ctx = RunContext(plan=Plan(model="cnn-teacher", stages=[{"stage": "train"}]), data=data, run_dir=work)
    (record,) = run_stages(ctx)
    return ctx.model, record["info"]


def accuracy(model, data) -> float:
    from edgecomp.data.pipeline import accuracy

    return accuracy(model, data, "test", batch_size=512)


def export(model, path: Path, sparse_format: bool = False) -> dict:
    """float32 .tflite; with sparse_format also a copy converted with EXPERIMENTAL_SPARSITY,
    which stores pruned weights in TFLite's sparse encoding (DENSIFY at load time)."""
    from edgecomp.core.files import gzip_size, write_bytes_atomically
    from edgecomp.exporters.sparsity import tflite_sparsity
    from edgecomp.exporters.tflite import keras_to_tflite

    keras_to_tflite(model, path, "float32")
    row = {"size_bytes": path.stat().st_size, "gzip_bytes": gzip_size(path),
           "tflite_sparsity": tflite_sparsity(path)["overall"]}
    if sparse_format:
        converter = tf().lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf().lite.Optimize.EXPERIMENTAL_SPARSITY]
        sparse_path = write_bytes_atomically(path.with_name(path.stem + "_sparse.tflite"), converter.convert())
        row.update(sparse_path=str(sparse_path), sparse_size_bytes=sparse_path.stat().st_size,
                   sparse_tflite_sparsity=tflite_sparsity(sparse_path)["overall"])
    return row


def subset(data, n: int):
    """The same dataset with only the first n training images (for the fine-tuning budget)."""
    return data.with_train(data.pixels("train", n), data.labels("train", n))


def variant(teacher, cfg_dict: dict, tune_data, data, folder: Path, name: str) -> dict:
    from edgecomp.compress.prune import PruneConfig, prune_model

    row = {"name": name, **{k: v for k, v in cfg_dict.items() if k != "stage"}}
    started = time.perf_counter()
    try:
        seed_everything(0)
        model, info = prune_model(teacher, PruneConfig(**cfg_dict), tune_data)
        row.update(accuracy=accuracy(model, data), params=info["params"]["after"], macs=info["macs"]["after"],
                   keras_sparsity=info["sparsity"]["overall"], seconds=round(time.perf_counter() - started, 1),
                   status="ok")
        if "target_layer_sparsity" in info:
            row["layer_sparsity"] = {k: round(v["sparsity"], 3) for k, v in info["sparsity"]["layers"].items()}
        if "filters" in info:
            row["filters"] = info["filters"]
        row.update(export(model, folder / f"{name}.tflite", sparse_format=cfg_dict["method"] != "structured"))
        row["path"] = str(folder / f"{name}.tflite")
    except Exception as err:  # noqa: BLE001 - a failed variant is a row, the loop goes on
        row.update(status="failed", error=f"{type(err).__name__}: {err}"[:300])
    print(json.dumps({k: v for k, v in row.items() if k not in ("layer_sparsity", "filters")}), flush=True)
    return row


def bench_latency(entries: list[tuple[dict, str]], baseline_path: Path, data, folder: Path, settings,
                  rounds: int) -> dict:
    """p50 latency of each (row, path key); `rounds` interleaved passes over all models, the
    unpruned baseline first and last in each pass; a model's p50 is the median over passes
    (the machine is shared, so one pass can be disturbed by other jobs)."""
    from edgecomp.run.artifacts import write_sample
    from edgecomp.targets.host import HostTarget

    sample = write_sample(data, folder / "sample.npz", 200)
    entries = [(row, key) for row, key in entries if row["status"] == "ok"]
    paths = [baseline_path] + [Path(row[key]) for row, key in entries] + [baseline_path]
    per_pass = []
    for _ in range(rounds):
        outcomes = HostTarget().bench(paths, sample, settings)
        per_pass.append([o.result["latency_ms"]["p50"] if o.ok else None for o in outcomes])
        for row, _key in entries:
            row.setdefault("runtime", next((o.result.get("runtime") for o in outcomes if o.ok), None))
    base_runs = [v for p in per_pass for v in (p[0], p[-1]) if v is not None]
    baseline_p50 = float(np.median(base_runs)) if base_runs else None
    for position, (row, key) in enumerate(entries, start=1):
        runs = [p[position] for p in per_pass if p[position] is not None]
        prefix = "sparse_" if key == "sparse_path" else ""
        if not runs:
            row[prefix + "p50_ms"] = None
            continue
        row[prefix + "p50_ms"] = float(np.median(runs))
        row[prefix + "p50_runs_ms"] = runs
        row[prefix + "speedup"] = baseline_p50 / row[prefix + "p50_ms"] if baseline_p50 else None
    return {"baseline_p50_ms": baseline_p50, "baseline_p50_runs_ms": base_runs, "rounds": rounds}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--finetune-train", type=int, default=20000, help="training images used for fine-tuning")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 fine-tune images, fewer variants")
    args = parser.parse_args()

    from edgecomp.data.dataset import load_dataset
    from edgecomp.models.macs import count_macs
    from edgecomp.plan.plan import BenchConfig

    command = " ".join([".venv/bin/python", "benchmarks/pruning/run.py"] + sys.argv[1:])
    started = time.perf_counter()
    data = load_dataset("fashion_mnist", seed=0)
    work = Path(tempfile.mkdtemp(prefix="edgecomp-prune-bench-"))
    teacher, teacher_info = load_teacher(data, work)
    n_tune = 2000 if args.quick else args.finetune_train
    tune_data = subset(data, n_tune)
    fractions = [0.5] if args.quick else [0.5, 0.75, 0.9]
    filter_fractions = [0.5] if args.quick else [0.25, 0.5, 0.75]

    baseline = {"name": "teacher (unpruned)", "accuracy": accuracy(teacher, data),
                "params": int(teacher.count_params()), "macs": count_macs(teacher)["total"]}
    baseline.update(export(teacher, work / "teacher.tflite"))
    common = {"stage": "prune", "epochs": args.epochs}

    unstructured = [variant(teacher, {**common, "method": method, "sparsity": s}, tune_data, data, work,
                            f"{method}-{int(s * 100)}") for s in fractions for method in ("local", "global")]
    unstructured.append(variant(teacher, {**common, "method": "2:4"}, tune_data, data, work, "2of4"))
    structured = [variant(teacher, {**common, "method": "structured", "scope": scope, "sparsity": s},
                          tune_data, data, work, f"structured-{scope}-{int(s * 100)}")
                  for scope in ("conv", "dense", "both") for s in filter_fractions]
    settings = BenchConfig(threads=1, warmup=20, min_runs=200, min_time_s=1.0, accuracy_samples=200)
    timed = [(row, "path") for row in structured]
    timed += [(row, key) for row in unstructured if row["name"] in ("local-90", "global-90", "2of4", "local-50")
              for key in ("path", "sparse_path")]
    latency = bench_latency(timed, work / "teacher.tflite", data, work, settings, rounds=1 if args.quick else 3)

    results = {
        "command": command, "seconds": round(time.perf_counter() - started, 1),
        "versions": {"python": platform.python_version(), "tensorflow": tf().__version__,
                     "tf_keras": keras().__version__, "tfmot": tfmot().__version__},
        "host": platform.processor() or platform.machine(),
        "budget": {"teacher": "cached cnn-teacher, 10 epochs on 54,000 images", "fine_tune_epochs": args.epochs,
                   "fine_tune_images": n_tune, "test_images": data.count("test"),
                   "bench": settings.model_dump()},
        "teacher": {**baseline, "train_info": teacher_info}, "unstructured": unstructured,
        "structured": structured, "latency": latency,
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (HERE / "results.md").write_text(render(results))
    print(render(results))
    return 0


def render(r: dict) -> str:
    t = r["teacher"]
    mb = lambda b: b / 1e6  # noqa: E731
    lines = [
        "# Pruning benchmark (Fashion-MNIST, cnn-teacher)", "",
        f"Command: `{r['command']}`  ", f"Versions: {r['versions']}  ", f"Host CPU: {r['host']}, wall {r['seconds']} s",
        "",
        f"Budget (reduced for the shared 2-core machine): every variant fine-tunes for "
        f"{r['budget']['fine_tune_epochs']} epoch(s) on the first {r['budget']['fine_tune_images']:,} training "
        f"images (of 54,000); accuracy on all {r['budget']['test_images']:,} test images (Keras model). "
        f"Sizes are of the float32 .tflite; sparsity is read back from that file.", "",
        f"Unpruned teacher: accuracy {t['accuracy']:.4f}, {t['params']:,} params, {t['macs']:,} MACs, "
        f".tflite {mb(t['size_bytes']):.3f} MB raw / {mb(t['gzip_bytes']):.3f} MB gzip, "
        f"acc/gzip-MB {t['accuracy'] / mb(t['gzip_bytes']):.3f}", "",
        "## Unstructured: local vs global magnitude pruning (first conv and logits not pruned)", "",
        "| variant | accuracy | sparsity (.tflite, all kernels) | raw MB | gzip MB | acc / gzip MB | raw MB, sparse format | p50 ms (speed-up) | p50 ms sparse format (speed-up) | per-layer sparsity |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["unstructured"]:
        if row["status"] != "ok":
            lines.append(f"| {row['name']} | failed: {row.get('error')} | | | | | | | | |")
            continue
        layers = ", ".join(f"{k} {v:.2f}" for k, v in row.get("layer_sparsity", {}).items())
        lines.append(f"| {row['name']} | {row['accuracy']:.4f} | {row['tflite_sparsity']:.3f} | "
                     f"{mb(row['size_bytes']):.3f} | {mb(row['gzip_bytes']):.3f} | "
                     f"{row['accuracy'] / mb(row['gzip_bytes']):.3f} | {mb(row['sparse_size_bytes']):.3f} | "
                     f"{_latency(row, '')} | {_latency(row, 'sparse_')} | {layers} |")
    lat = r["latency"]
    lines += [
        "", "## Structured: remove filters (conv) / units (dense) by L1 norm", "",
        f"Host latency p50 via `HostTarget().bench` (1 thread, batch 1), median over {lat['rounds']} interleaved "
        f"passes; unpruned teacher p50 {_ms(lat['baseline_p50_ms'])} ms (runs: "
        f"{', '.join(_ms(v) for v in lat['baseline_p50_runs_ms'])}). Speed-up = teacher p50 / variant p50.", "",
        "| variant | accuracy | params | MACs | raw MB | p50 ms (speed-up) | filters kept |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in r["structured"]:
        if row["status"] != "ok":
            lines.append(f"| {row['name']} | {row['status']}: {row.get('error')} | | | | | |")
            continue
        kept = ", ".join(f"{k} {v['after']}/{v['before']}" for k, v in row.get("filters", {}).items())
        lines.append(f"| {row['name']} | {row['accuracy']:.4f} | {row['params']:,} | {row['macs']:,} | "
                     f"{mb(row['size_bytes']):.3f} | {_latency(row, '')} | {kept} |")
    return "\n".join(lines) + "\n"


def _ms(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _latency(row: dict, prefix: str) -> str:
    if row.get(prefix + "p50_ms") is None:
        return "not timed"
    return f"{row[prefix + 'p50_ms']:.4f} ({row[prefix + 'speedup']:.2f}x)"


if __name__ == "__main__":
    sys.exit(main())
