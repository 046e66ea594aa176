"""Distillation suite on Fashion-MNIST: the same student (cnn-student) trained plainly, with KD,
TAKD, BYOT and DLB, over several seeds; accuracy measured through the exported float TFLite.

Usage: .venv/bin/python benchmarks/distillation/run.py [--epochs 5] [--seeds 0 1 2]
Writes benchmarks/distillation/results.json and results.md (rewritten after every run, so an
interrupted run still leaves its finished rows).
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
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from edgecomp.tfenv import seed_everything, tf

METHOD_ORDER = ["plain", "kd", "takd", "byot", "dlb"]


def tflite_metrics(model, data, folder: Path, name: str) -> dict:
    """Float32 TFLite export, then test accuracy of the .tflite itself on the whole test split."""
    from edgecomp.export.parity import run_tflite
    from edgecomp.export.tflite import keras_to_tflite

    path = keras_to_tflite(model, folder / f"{name}.tflite", "float32")
    logits = run_tflite(path, data.images("test"))  # (N, K)
    return {"accuracy": float(np.mean(logits.argmax(-1) == data.labels("test"))), "params": int(model.count_params()),
            "tflite_bytes": path.stat().st_size}


def make_ctx(data, seed: int, model, run_dir: Path):
    from edgecomp.config import parse_plan
    from edgecomp.stages import RunContext

    return RunContext(plan=parse_plan({"model": "cnn-student", "seed": seed, "stages": []}), data=data,
                      run_dir=run_dir, model=model)


def run_one(method: str, seed: int, epochs: int, data, teacher, folder: Path, extra: dict) -> list[dict]:
    """Trains cnn-student with `method` and returns its row(s) (BYOT adds one row per exit)."""
    from edgecomp.compress.distill import DistillConfig, run_distill
    from edgecomp.compress.distill.byot import train_byot
    from edgecomp.compress.fitting import fit
    from edgecomp.models.zoo import build_zoo_model

    seed_everything(seed)
    student = build_zoo_model("cnn-student", data.input_shape, data.num_classes)
    started = time.perf_counter()
    rows = []
    if method == "plain":
        info = fit(student, data, epochs, 128, 2e-3, f"plain s{seed}")
        models = {"cnn-student": student}
    elif method in ("kd", "takd"):
        ctx = make_ctx(data, seed, teacher, folder)
        info = run_distill(ctx, DistillConfig(method=method, epochs=epochs, **extra))
        models = {"cnn-student": ctx.model}
    elif method == "byot":
        cfg = DistillConfig(method="byot", epochs=epochs, **extra).resolved()
        network, info = train_byot(student, data, cfg, seed=seed)
        models = {"cnn-student": student}
        models.update({f"exit {k} ({name})": network.truncated(k) for k, name in enumerate(network.exit_names, 1)})
    elif method == "dlb":
        ctx = make_ctx(data, seed, student, folder)
        info = run_distill(ctx, DistillConfig(method="dlb", epochs=epochs, **extra))
        models = {"cnn-student": ctx.model}
    else:
        raise ValueError(method)
    train_seconds = time.perf_counter() - started
    for model_name, model in models.items():
        row = {"method": method, "seed": seed, "model": model_name, "epochs": epochs,
               "train_seconds": round(train_seconds, 1), "seconds_per_epoch": round(train_seconds / epochs, 2),
               "settings": info.get("settings"), **extra,
               "variant": ", ".join(f"{key}={value}" for key, value in extra.items())}
        row.update(tflite_metrics(model, data, folder, f"{method}-{seed}-{len(rows)}"))
        rows.append(row)
        print(f"  {method} seed {seed} {model_name}: acc {row['accuracy']:.4f} params {row['params']} "
              f"{row['seconds_per_epoch']} s/epoch", flush=True)
    return rows


def versions() -> dict:
    import ai_edge_litert
    import tf_keras

    return {"python": platform.python_version(), "tensorflow": tf().__version__, "tf_keras": tf_keras.__version__,
            "numpy": np.__version__, "ai_edge_litert": getattr(ai_edge_litert, "__version__", "?"),
            "platform": platform.platform(), "cpu_cores": __import__("os").cpu_count()}


def summarise(rows: list[dict]) -> list[dict]:
    groups: dict = {}
    for row in rows:
        if "failed" in row:
            continue
        variant = row.get("variant") or ("teacher_logits=on_the_fly" if row.get("teacher_logits") else "")
        key = (row["method"] + (f" ({variant})" if variant else ""), row["model"])
        groups.setdefault(key, []).append(row)
    table = []
    for (method, model), members in groups.items():
        accuracy = np.array([m["accuracy"] for m in members]) * 100
        table.append({"method": method, "model": model, "seeds": len(members),
                      "acc_mean": float(accuracy.mean()), "acc_std": float(accuracy.std(ddof=1)) if len(members) > 1 else 0.0,
                      "params": members[0]["params"], "tflite_kb": members[0]["tflite_bytes"] / 1024,
                      "s_per_epoch": float(np.mean([m["seconds_per_epoch"] for m in members]))})
    return table


def write_results(result: dict) -> None:
    (HERE / "results.json").write_text(json.dumps(result, indent=1))
    table = summarise(result["rows"])
    plain = next((t["acc_mean"] for t in table if t["method"] == "plain"), None)
    lines = [
        "# Distillation suite: cnn-student on Fashion-MNIST", "",
        f"Command: `{result['command']}`", "",
        f"Versions: {', '.join(f'{k} {v}' for k, v in result['versions'].items())}", "",
        f"Setting: {result['setting']}", "",
        "| method | model | seeds | test acc % (mean ± std, float TFLite) | Δ vs plain | params | .tflite KB | train s/epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in table:
        delta = f"{t['acc_mean'] - plain:+.2f}" if plain is not None and t["method"] != "teacher" else ""
        lines.append(f"| {t['method']} | {t['model']} | {t['seeds']} | {t['acc_mean']:.2f} ± {t['acc_std']:.2f} | "
                     f"{delta} | {t['params']:,} | {t['tflite_kb']:.1f} | "
                     f"{'cached' if t['method'] == 'teacher' else format(t['s_per_epoch'], '.1f')} |")
    if result.get("extra_commands"):
        lines += ["", "Rows added by: " + "; ".join(f"`{c}`" for c in result["extra_commands"])]
    lines += ["", "Per-run rows (seed, accuracy, seconds) are in results.json.", ""]
    failed = [f"- {r['method']} seed {r['seed']}: FAILED {r['failed']}" for r in result["rows"] if "failed" in r]
    if failed:
        lines += ["## Failed runs", ""] + failed + [""]
    notes = HERE / "notes.md"  # hand-written analysis of the measured numbers, kept beside them
    if notes.is_file():
        lines += [notes.read_text().rstrip()]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=METHOD_ORDER)
    parser.add_argument("--no-on-the-fly", action="store_true", help="skip the KD teacher-logits timing run")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="extra distill settings for every run (a variant, e.g. alpha=0)")
    parser.add_argument("--append", action="store_true", help="add rows to results.json instead of a new run")
    parser.add_argument("--render-only", action="store_true", help="rewrite results.md from results.json")
    args = parser.parse_args()
    if args.render_only:
        write_results(json.loads((HERE / "results.json").read_text()))
        return

    from edgecomp.compress.train import TrainConfig, run_train
    from edgecomp.data import load_dataset

    data = load_dataset("fashion_mnist", val_fraction=0.1, seed=0)
    folder = Path(tempfile.mkdtemp(prefix="distill-bench-"))
    result = {
        "command": " ".join([".venv/bin/python", "benchmarks/distillation/run.py"] + sys.argv[1:]),
        "versions": versions(),
        "setting": (f"full Fashion-MNIST train split ({data.count('train'):,} train / {data.count('val'):,} val / "
                    f"{data.count('test'):,} test images), no augmentation; every student trained {args.epochs} "
                    f"epochs (batch 128, Adam 2e-3 cosine); TAKD's assistant also {args.epochs} epochs; teacher = "
                    "cached cnn-teacher (10 epochs); seeds " + ", ".join(map(str, args.seeds)) +
                    "; s/epoch = wall time of all training in that run (incl. teacher logits / assistant) / epochs, "
                    "on 2 CPU cores shared with other engineers' jobs (timings are noisy)."),
        "rows": [],
    }
    extra = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
    if args.append:
        previous = json.loads((HERE / "results.json").read_text())
        previous.setdefault("extra_commands", []).append(result["command"])
        result = {**previous, "command": previous["command"]}
    ctx = make_ctx(data, 0, None, folder)
    ctx.plan = ctx.plan.model_copy(update={"model": "cnn-teacher"})
    run_train(ctx, TrainConfig())
    teacher = ctx.model
    row = {"method": "teacher", "seed": 0, "model": "cnn-teacher", "epochs": 10, "train_seconds": 0,
           "seconds_per_epoch": 0.0, "settings": "cached"}
    if not args.append:
        row.update(tflite_metrics(teacher, data, folder, "teacher"))
        result["rows"].append(row)
        write_results(result)
    for seed in args.seeds:
        for method in args.methods:
            try:
                rows = run_one(method, seed, args.epochs, data, teacher, folder, extra)
                for row in rows:  # a budget other than the suite's is a variant of its own
                    if args.epochs != parser.get_default("epochs"):
                        row["variant"] = ", ".join(filter(None, [row["variant"], f"epochs={args.epochs}"]))
                result["rows"] += rows
            except Exception as err:  # noqa: BLE001 - a failed variant is a row, the loop goes on
                result["rows"].append({"method": method, "seed": seed, "model": "cnn-student", "failed": repr(err)})
                print(f"  {method} seed {seed} FAILED: {err!r}", flush=True)
            write_results(result)
    if not args.no_on_the_fly:
        result["rows"] += run_one("kd", args.seeds[0], args.epochs, data, teacher, folder,
                                  {"teacher_logits": "on_the_fly"})
        write_results(result)


if __name__ == "__main__":
    main()
