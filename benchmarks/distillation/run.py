"""Distillation suite on Fashion-MNIST: the same student trained plainly and with KD, DLB (and
TAKD, BYOT on request) over several seeds, at equal optimizer steps, with a preset's recipe;
accuracy measured through the exported float TFLite.

Usage: .venv/bin/python benchmarks/distillation/run.py [--preset quality] [--student cnn-assistant]
       [--train-limit 6000] [--seeds 0 1 2] [--methods plain kd dlb]
The preset gives the epochs and augmentation of the distill stage (edgecomp.plan.plan.PRESETS;
`--augment` sets the augmentation of every method instead). DLB's
batches repeat half of the previous batch, so it runs half the epochs: the same optimizer steps
and image presentations as the others. Plain training gets the same augmentation as KD, and a
second plain row the augmentation DLB uses (DLB cannot mix up images).
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

from edgecomp.core.tfenv import seed_everything, tf

METHOD_ORDER = ["plain", "kd", "dlb"]
TRAIN_ACCURACY_IMAGES = 5000  # clean (unaugmented) training images the train-accuracy column is measured on


def tflite_metrics(model, data, folder: Path, name: str) -> dict:
    """Float32 TFLite export, then test accuracy of the .tflite itself on the whole test split."""
    from edgecomp.exporters.parity import run_tflite
    from edgecomp.exporters.tflite import keras_to_tflite

    path = keras_to_tflite(model, folder / f"{name}.tflite", "float32")
    logits = run_tflite(path, data.images("test"))  # (N, K)
    train_images = data.images("train")[:TRAIN_ACCURACY_IMAGES]
    train_logits = run_tflite(path, train_images)
    train_accuracy = float(np.mean(train_logits.argmax(-1) == data.labels("train")[:TRAIN_ACCURACY_IMAGES]))
    return {"accuracy": float(np.mean(logits.argmax(-1) == data.labels("test"))), "params": int(model.count_params()),
            "tflite_bytes": path.stat().st_size, "train_accuracy": train_accuracy}


def make_ctx(data, seed: int, model, run_dir: Path):
    from edgecomp.compress.context import RunContext
    from edgecomp.plan.plan import parse_plan

    return RunContext(plan=parse_plan({"model": "cnn-student", "seed": seed, "stages": []}), data=data,
                      run_dir=run_dir, model=model)


def method_augment(method: str, augment: dict) -> dict:
    """The preset's augmentation as `method` can take it (byot and dlb cannot mix up images)."""
    from edgecomp.plan.stage_settings import MIXUP_UNSUPPORTED

    return {key: value for key, value in augment.items() if not (key == "mixup" and method in MIXUP_UNSUPPORTED)}


def run_one(method: str, seed: int, epochs: int, data, teacher, folder: Path, extra: dict,
            student_name: str, augment: dict) -> list[dict]:
    """Trains `student_name` with `method` and returns its row(s) (BYOT adds one row per exit).

    `plain` is the train stage's recipe (fit, then BatchNorm statistics re-estimated, as every
    distill method's are); DLB runs half the epochs (see the module docstring).
    """
    from edgecomp.compress.bn_stats import reestimate_and_measure
    from edgecomp.compress.distill.byot import train_byot
    from edgecomp.compress.distill.stage import DistillConfig, run_distill
    from edgecomp.compress.fitting import fit
    from edgecomp.data.augment import AugmentConfig
    from edgecomp.models.zoo import build_zoo_model

    seed_everything(seed)
    student = build_zoo_model(student_name, data.input_shape, data.num_classes)
    started = time.perf_counter()
    rows = []
    if method == "dlb":
        epochs = max(1, epochs // 2)
    extra = {**extra, "augment": augment} if augment else extra
    if method == "plain":
        aug = AugmentConfig(**augment)
        info = fit(student, data, epochs, 128, 2e-3, f"plain s{seed}", augment=aug if aug.enabled else None,
                   seed=seed)
        info["bn_statistics"] = reestimate_and_measure(student, data, 128, seed=seed)
        models = {student_name: student}
    elif method in ("kd", "takd"):
        ctx = make_ctx(data, seed, teacher, folder)
        info = run_distill(ctx, DistillConfig(method=method, epochs=epochs, student=student_name, **extra))
        models = {student_name: ctx.model}
    elif method == "byot":
        cfg = DistillConfig(method="byot", epochs=epochs, **extra).resolved()
        network, info = train_byot(student, data, cfg, seed=seed)
        models = {student_name: student}
        models.update({f"exit {k} ({name})": network.truncated(k) for k, name in enumerate(network.exit_names, 1)})
    elif method == "dlb":
        ctx = make_ctx(data, seed, student, folder)
        info = run_distill(ctx, DistillConfig(method="dlb", epochs=epochs, **extra))
        models = {student_name: ctx.model}
    else:
        raise ValueError(method)
    train_seconds = time.perf_counter() - started
    for model_name, model in models.items():
        row = {"method": method, "seed": seed, "model": model_name, "epochs": epochs,
               "train_seconds": round(train_seconds, 1), "seconds_per_epoch": round(train_seconds / epochs, 2),
               "settings": info.get("settings"), **extra,
               "variant": ", ".join(f"{key}={value}" for key, value in extra.items() if key != "augment")}
        if augment:
            row["variant"] = ", ".join(filter(None, [row["variant"], "augment " + json.dumps(augment)]))
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
    """One line per (method, variant, model): mean and std over seeds, and the gain over the plain
    row trained with the same augmentation (its step-matched control)."""
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
        train = [m["train_accuracy"] * 100 for m in members if "train_accuracy" in m]
        table.append({"method": method, "model": model, "seeds": len(members), "kind": members[0]["method"],
                      "augment": json.dumps(members[0].get("augment")), "steps": members[0].get("steps"),
                      "acc_mean": float(accuracy.mean()), "acc_std": float(accuracy.std(ddof=1)) if len(members) > 1 else 0.0,
                      "train_acc_mean": float(np.mean(train)) if train else None,
                      "params": members[0]["params"], "tflite_kb": members[0]["tflite_bytes"] / 1024,
                      "s_per_epoch": float(np.mean([m["seconds_per_epoch"] for m in members]))})
    for line in table:
        control = next((t for t in table if t["kind"] == "plain" and t["augment"] == line["augment"]), None)
        line["delta"] = (line["acc_mean"] - control["acc_mean"]) if control and line["kind"] != "teacher" else None
    return table


def write_results(result: dict) -> None:
    (HERE / "results.json").write_text(json.dumps(result, indent=1))
    table = summarise(result["rows"])
    lines = [
        f"# Distillation suite: {result.get('student', 'cnn-student')} on Fashion-MNIST", "",
        f"Command: `{result['command']}`", "",
        f"Versions: {', '.join(f'{k} {v}' for k, v in result['versions'].items())}", "",
        f"Setting: {result['setting']}", "",
        "Δ: against the plain row with the same augmentation and the same optimizer steps. Train acc: clean "
        f"(unaugmented) accuracy on the first {TRAIN_ACCURACY_IMAGES:,} training images, through the TFLite file; "
        "far above test accuracy means the student over-fits (room for a regulariser to gain).", "",
        "| method | model | seeds | test acc % (mean ± std, float TFLite) | Δ | train acc % | epochs | params | "
        ".tflite KB | train s/epoch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    epochs = {}
    for row in result["rows"]:
        epochs.setdefault((row["method"], row.get("model")), row.get("epochs"))
    for t in table:
        delta = "" if t["delta"] is None else f"{t['delta']:+.2f}"
        train = "" if t["train_acc_mean"] is None else f"{t['train_acc_mean']:.2f}"
        lines.append(f"| {t['method']} | {t['model']} | {t['seeds']} | {t['acc_mean']:.2f} ± {t['acc_std']:.2f} | "
                     f"{delta} | {train} | {epochs.get((t['kind'], t['model']), '')} | {t['params']:,} | "
                     f"{t['tflite_kb']:.1f} | "
                     f"{'—' if t['method'] == 'teacher' else format(t['s_per_epoch'], '.1f')} |")
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
    from edgecomp.plan.plan import PRESETS

    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quality")
    parser.add_argument("--student", default="cnn-assistant", help="zoo student trained by every method")
    parser.add_argument("--train-limit", type=int, default=6000, help="training images (the teacher's too)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the preset's distill epochs")
    parser.add_argument("--augment", type=json.loads, default=None, metavar="JSON",
                        help='augmentation of every method, e.g. \'{"shift": 0.1, "mixup": 0.2}\' (default: the preset\'s)')
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=METHOD_ORDER)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="extra distill settings for every run (a variant, e.g. alpha=0)")
    parser.add_argument("--append", action="store_true", help="add rows to results.json instead of a new run")
    parser.add_argument("--render-only", action="store_true", help="rewrite results.md from results.json")
    args = parser.parse_args()
    if args.render_only:
        write_results(json.loads((HERE / "results.json").read_text()))
        return

    from edgecomp.compress.distill.stage import DistillConfig
    from edgecomp.data.dataset import load_dataset
    from edgecomp.plan.stage_settings import TrainConfig
    from edgecomp.run.pipeline import run_stages

    preset = PRESETS[args.preset].get("distill", {})
    epochs = args.epochs or preset.get("epochs") or DistillConfig().epochs
    augment = args.augment if args.augment is not None else preset.get("augment", {})
    data = load_dataset("fashion_mnist", val_fraction=0.1, seed=0, train_limit=args.train_limit)
    folder = Path(tempfile.mkdtemp(prefix="distill-bench-"))
    result = {
        "command": " ".join([".venv/bin/python", "benchmarks/distillation/run.py"] + sys.argv[1:]),
        "versions": versions(), "student": args.student,
        "setting": (f"Fashion-MNIST, {data.count('train'):,} training images (`--train-limit`; the teacher is "
                    f"trained on the same images) / {data.count('val'):,} val / {data.count('test'):,} test; "
                    f"preset `{args.preset}`: {epochs} epochs (DLB {max(1, epochs // 2)}: equal optimizer steps), "
                    f"augmentation {json.dumps(augment) if augment else 'none'} (DLB without mixup), KD's teacher "
                    f"logits on the fly when augmentation is on; batch 128, Adam 2e-3 cosine; teacher = cnn-teacher, "
                    f"10 epochs; seeds {', '.join(map(str, args.seeds))}; s/epoch = wall time of all training in "
                    "that run (incl. teacher logits) / epochs, on 2 CPU cores shared with other jobs (noisy)."),
        "rows": [],
    }
    extra = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
    if args.append:
        previous = json.loads((HERE / "results.json").read_text())
        previous.setdefault("extra_commands", []).append(result["command"])
        result = {**previous, "command": previous["command"]}
    ctx = make_ctx(data, 0, None, folder)
    # Through the pipeline, so the teacher comes from the stage cache (the same entry as a build's).
    ctx.plan = ctx.plan.model_copy(update={"model": "cnn-teacher", "stages": [TrainConfig()]})
    run_stages(ctx)
    teacher = ctx.model
    if not args.append:
        row = {"method": "teacher", "seed": 0, "model": "cnn-teacher", "epochs": 10, "train_seconds": 0,
               "seconds_per_epoch": 0.0, "settings": "train stage defaults"}
        row.update(tflite_metrics(teacher, data, folder, "teacher"))
        result["rows"].append(row)
        write_results(result)
    # Each method's control: plain training with the augmentation that method uses.
    runs = [(method, method_augment(method, augment)) for method in args.methods]
    runs += [("plain", aug) for aug in {json.dumps(a, sort_keys=True): a for _, a in runs}.values()
             if ("plain", aug) not in runs]
    for seed in args.seeds:
        for method, method_aug in runs:
            try:
                rows = run_one(method, seed, epochs, data, teacher, folder, extra, args.student, method_aug)
                for row in rows:
                    row["augment"] = method_aug
                result["rows"] += rows
            except Exception as err:  # noqa: BLE001 - a failed variant is a row, the loop goes on
                result["rows"].append({"method": method, "seed": seed, "model": args.student, "failed": repr(err)})
                print(f"  {method} seed {seed} FAILED: {err!r}", flush=True)
            write_results(result)


if __name__ == "__main__":
    main()
