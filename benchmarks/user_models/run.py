#!/usr/bin/env python3
"""Users' own strong models and a few thousand folder images, through the default plan (issue 22).

    python benchmarks/user_models/run.py all                    # folder, the users' training, the builds
    python benchmarks/user_models/run.py all --models resnet_style --preset fast   # one model, another preset
    python benchmarks/user_models/run.py teachers --models NAME  # only the users' training
    python benchmarks/user_models/run.py render                 # results.md from results.json

What a user has, and what this script does in their place, step by step:
- the folder (`folder_data.write_folder`): real Fashion-MNIST images, 375 per class at random 96-128 px,
  PNG and JPEG, one sub-folder per class, one truncated JPEG. edgecomp's loader holds out 20% as the
  test split (750 images); the users train on the rest (2,700 train, 300 validation).
- the model: an architecture this project did not design, at 96x96x3, with the input range it expects:
  a keras.applications MobileNetV2 alpha 0.35 called as a nested backbone (`symmetric`), a
  keras.applications MobileNetV3Small with its own rescaling (`raw`), a hand-written ResNet-style net
  (`unit`). weights=None: nothing downloads here.
- the users' training, in Keras 3: flip + shift augmentation, Adam, ReduceLROnPlateau and EarlyStopping
  on validation accuracy (restore_best_weights), until validation stops improving, not a fixed count of
  epochs. The trained model is saved as NAME.keras: that is the teacher.
- the build: `edgecomp build --config NAME.yaml`, the plan naming only the model, the folder with its
  normalization, and the preset: the default plan for a model file (loaded as is, KD into
  `student: auto`, global pruning 50%, QAT int8; the PTQ int8 floor of the unchanged model beside).

results.json (beside this file) gains one entry per model as each build ends, so a partial run keeps
what finished; a user model trained by an earlier run (NAME.keras and NAME_teacher.json in --work) is
reused, not trained again; results.md is rendered from it with the notes in notes.md. Everything else goes to
--work (default runs/user_models/, not committed).

Goals (issue 22): for every model the ★ deployable within 1 point of its teacher, >= 4x smaller (raw),
status ok; on at least two of three, the chain's own int8 file within 1 point at >= 8x smaller.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from folder_data import lower_bn_momentum, train_on_folder, write_folder  # noqa: E402

SIZE = 96
PER_CLASS = 375
RESULTS = HERE / "results.json"
STAR_POINTS, STAR_RATIO = 1.0, 4.0  # the ★ deployable, every model
CHAIN_POINTS, CHAIN_RATIO = 1.0, 8.0  # the chain's own int8 file, two of three models


def mobilenetv2_035():
    import keras

    backbone = keras.applications.MobileNetV2(input_shape=(SIZE, SIZE, 3), alpha=0.35, weights=None,
                                              include_top=False)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(backbone(inputs))
    outputs = keras.layers.Dense(10, name="logits")(keras.layers.Dropout(0.2)(x))
    return lower_bn_momentum(keras.Model(inputs, outputs, name="mobilenetv2_035_classifier"))


def mobilenetv3_small():
    import keras

    # include_preprocessing (the default) rescales 0..255 inside the model: normalization raw.
    return lower_bn_momentum(keras.applications.MobileNetV3Small(
        input_shape=(SIZE, SIZE, 3), weights=None, classes=10, classifier_activation=None, dropout_rate=0.2))


def resnet_style():
    """A ResNet-style net as a user writes one: conv-BN-ReLU stem, three stages of basic blocks."""
    import keras

    layers = keras.layers

    def block(x, filters, stride):
        shortcut = x
        y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        y = layers.ReLU()(layers.BatchNormalization()(y))
        y = layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same", use_bias=False)(y))
        if stride != 1 or shortcut.shape[-1] != filters:
            shortcut = layers.BatchNormalization()(layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x))
        return layers.ReLU()(layers.Add()([y, shortcut]))

    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(24, 3, strides=2, padding="same",
                                                                use_bias=False)(inputs)))
    for filters, stride in [(24, 1), (48, 2), (96, 2)]:
        x = block(x, filters, stride)
    outputs = layers.Dense(10, name="logits")(layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs, name="resnet_style")


# name -> (builder, the normalization the architecture expects, how the user scales 0..255 pixels for it)
MODELS = {
    "resnet_style": (resnet_style, "unit", lambda x: x / 255.0),
    "mobilenetv3_small": (mobilenetv3_small, "raw", lambda x: x),
    "mobilenetv2_035": (mobilenetv2_035, "symmetric", lambda x: x / 127.5 - 1.0),
}


def train_teacher(name: str, folder: Path, path: Path, max_epochs: int, seed: int) -> dict:
    """The user's own training, in Keras 3, until validation accuracy stops improving."""
    builder, _, scale = MODELS[name]
    return train_on_folder(builder(), folder, SIZE, path, max_epochs, seed, patience=8, scale=scale)


def build(name: str, work: Path, preset: str) -> tuple[dict, list[str], int, float]:
    """`edgecomp build` of the user's model file and folder through a plan that names only those."""
    _, normalization, _ = MODELS[name]
    plan = {"model": str(work / f"{name}.keras"),
            "dataset": {"name": str(work / "folder"), "normalization": normalization}, "preset": preset}
    plan_path = work / f"{name}.yaml"
    plan_path.write_text(yaml.safe_dump(plan, sort_keys=False))
    out = work / "runs" / name
    # The `edgecomp` entry point (pyproject's edgecomp.cli.main:run) of this checkout.
    command = [sys.executable, "-c", "from edgecomp.cli.main import run; run()", "build", "--config", str(plan_path),
               "--out", str(out)]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - started
    shown = ["edgecomp", "build", "--config", f"{name}.yaml", "--out", f"runs/{name}"]
    return json.loads((out / "report.json").read_text()), shown, completed.returncode, wall


def summarize(report: dict) -> dict:
    """Each .tflite with its role and measurements, and which one is ★, the floor and the chain's pick."""
    recommended = report.get("recommended") or {}
    files = {}
    for a in report["artifacts"]:
        if a["name"].endswith(".tflite"):
            files[a["name"]] = {"role": a.get("role"), "precision": a.get("precision"), "status": a.get("status"),
                                "accuracy": a.get("accuracy"), "size_bytes": a.get("size_bytes"),
                                "params": a.get("params"), "p50_ms": (a.get("latency_ms") or {}).get("p50"),
                                "parity_reason": (a.get("parity") or {}).get("reason")}
    stages = []
    for stage in report["stages"]:
        info = stage.get("info") or {}
        fit = info.get("fine_tune") if isinstance(info.get("fine_tune"), dict) else info  # prune nests its fit
        kept = (fit.get("best_weights") or {}).get("epoch")
        stages.append({"stage": stage["stage"], "seconds": stage.get("seconds"), "epochs": stage.get("epochs"),
                       "steps": stage.get("steps"), "best_epoch": kept})
    distill = next((s.get("info") or {} for s in report["stages"] if s["stage"] == "distill"), {})
    return {"files": files, "recommended": recommended.get("name"), "floor": recommended.get("floor"),
            "chain": recommended.get("chain"), "reason": recommended.get("reason"), "stages": stages,
            "auto_student": distill.get("auto_student"), "warnings": [w.get("code") for w in report.get("warnings") or []],
            "versions": report.get("versions"), "host": report.get("host")}


def goals(entry: dict) -> dict:
    """The issue's two goals for one model, from the teacher's own .tflite and the files of the same build."""
    files = entry["build"]["files"]
    teacher = next(f for f in files.values() if f["role"] == "original")

    def against_teacher(name: str | None) -> dict | None:
        f = files.get(name or "")
        if f is None or f["accuracy"] is None:
            return None
        return {"file": name, "delta_points": 100 * (f["accuracy"] - teacher["accuracy"]),
                "size_ratio": teacher["size_bytes"] / f["size_bytes"], "status": f["status"]}

    star = against_teacher(entry["build"]["recommended"])
    chain = against_teacher("model_qat_int8.tflite")
    floor = against_teacher(entry["build"]["floor"])
    return {"star": star, "chain_int8": chain, "floor": floor,
            "star_met": bool(star and star["delta_points"] >= -STAR_POINTS and star["size_ratio"] >= STAR_RATIO
                             and star["status"] == "ok"),
            "chain_met": bool(chain and chain["delta_points"] >= -CHAIN_POINTS and chain["size_ratio"] >= CHAIN_RATIO
                              and chain["status"] == "ok")}


def git_commit() -> str:
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "edgecomp"], capture_output=True, text=True)
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def user_model(name: str, work: Path, max_epochs: int, seed: int) -> dict:
    """The user's trained model NAME.keras in `work` and its training facts: trained now, or by an earlier run."""
    facts = work / f"{name}_teacher.json"
    if facts.exists() and (work / f"{name}.keras").exists():
        teacher = json.loads(facts.read_text())
    else:
        teacher = train_teacher(name, work / "folder", work / f"{name}.keras", max_epochs, seed)
        facts.write_text(json.dumps(teacher, indent=1))
    print(json.dumps(teacher, indent=1), flush=True)
    return teacher


def run_model(name: str, work: Path, preset: str, max_epochs: int, seed: int) -> None:
    load_before = os.getloadavg()[0]
    teacher = user_model(name, work, max_epochs, seed)
    report, command, code, wall = build(name, work, preset)
    entry = {"teacher_training": teacher, "preset": preset, "command": shlex.join(command), "exit_code": code,
             "build_wall_seconds": round(wall), "load_average_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
             "code": git_commit(), "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
             "build": summarize(report)}
    entry["goals"] = goals(entry)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.setdefault("models", {})[name] = entry
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(entry["goals"], indent=1), flush=True)


def fmt(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def render(results: dict) -> str:
    """results.md: one table of every model's files, the goals, then the stages and the notes."""
    models = results["models"]
    any_entry = next(iter(models.values()))
    versions = ", ".join(f"{k} {v}" for k, v in (any_entry["build"]["versions"] or {}).items() if v)
    lines = ["# Users' own strong models and a few thousand images, through the default plan", "",
             "Script: `benchmarks/user_models/run.py` (its docstring says what a user has and what runs); every "
             "number below is from `results.json` beside it. Host: "
             f"{any_entry['build']['host'].get('cpu')}, {any_entry['build']['host'].get('cores')} cores, shared "
             f"(load average at each model's start and end is in the stage table). Versions: {versions}.", "",
             f"Data: {PER_CLASS * 10:,} real Fashion-MNIST images at 96-128 px in a class folder (one corrupt), "
             f"loaded at {SIZE}x{SIZE}x3; accuracy is each .tflite's own on the 750 test images edgecomp's loader "
             "holds out (one image is 0.13 pt; the standard error of one accuracy near 85% is 1.3 pt, of a "
             "paired difference between two files of one model well under that).", "",
             "| model | teacher (user's training) | file | role | status | accuracy | vs teacher | size | x smaller |"
             " p50 ms |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, entry in models.items():
        t = entry["teacher_training"]
        files = entry["build"]["files"]
        teacher = next(f for f in files.values() if f["role"] == "original")
        label = (f"{t['params']:,} params, {t['epochs_run']} epochs ({t['train_seconds']} s), "
                 f"Keras {100 * t['keras_test_accuracy']:.2f}%")
        for file_name, f in files.items():
            star = "★ " if file_name == entry["build"]["recommended"] else ""
            delta = f["accuracy"] is not None and 100 * (f["accuracy"] - teacher["accuracy"])
            lines.append(f"| {name} | {label} | {star}{file_name} | {f['role'] or f['precision']} | {f['status']} | "
                         f"{fmt(f['accuracy'] and 100 * f['accuracy'], '.2f')}% | {fmt(delta if f['role'] != 'original' else None, '+.2f')} | "
                         f"{fmt(f['size_bytes'] and f['size_bytes'] / 1e3, ',.1f')} kB | "
                         f"{fmt(teacher['size_bytes'] / f['size_bytes'] if f['size_bytes'] else None, '.1f')}x | "
                         f"{fmt(f['p50_ms'], '.3f')} |")
            label = ""
    lines += ["", f"Goals: ★ within {STAR_POINTS:g} point of the teacher at >= {STAR_RATIO:g}x smaller with status ok "
              f"(every model); the chain's own int8 file (`model_qat_int8.tflite`) within {CHAIN_POINTS:g} point at "
              f">= {CHAIN_RATIO:g}x (two of three).", "",
              "| model | ★ | ★ vs teacher | ★ goal | floor vs teacher | chain int8 vs teacher | chain goal |",
              "|---|---|---|---|---|---|---|"]

    def cell(g: dict | None) -> str:
        return "—" if not g else f"{g['delta_points']:+.2f} pt at {g['size_ratio']:.1f}x ({g['status']})"

    for name, entry in models.items():
        g = entry["goals"]
        lines.append(f"| {name} | {entry['build']['recommended']} | {cell(g['star'])} | "
                     f"{'met' if g['star_met'] else 'not met'} | {cell(g['floor'])} | {cell(g['chain_int8'])} | "
                     f"{'met' if g['chain_met'] else 'not met'} |")
    lines += ["", "| model | preset | code | build wall (2 cores) | load avg start/end | stage: epochs, steps, seconds, "
              "best epoch kept | student | warnings |", "|---|---|---|---|---|---|---|---|"]
    for name, entry in models.items():
        stages = "; ".join(f"{s['stage']} {fmt(s['epochs'], 'd')} ep, {fmt(s['steps'], ',')} steps, "
                           f"{fmt(s['seconds'], '.0f')} s" + (f", kept {s['best_epoch']}" if s.get("best_epoch") else "")
                           for s in entry["build"]["stages"])
        auto = entry["build"].get("auto_student") or {}
        student = (f"width {auto.get('width')}: {fmt(auto.get('teacher_params'), ',')} -> "
                   f"{fmt(auto.get('student_params'), ',')} params" if auto else "—")
        lines.append(f"| {name} | {entry['preset']} | {entry['code']} | {entry['build_wall_seconds'] / 60:.1f} min "
                     f"(exit {entry['exit_code']}) | {' / '.join(map(str, entry['load_average_1min']))} | {stages} | "
                     f"{student} | {', '.join(entry['build']['warnings']) or 'none'} |")
    lines += ["", "Command per model: `python benchmarks/user_models/run.py all --models NAME --preset PRESET`, which "
              "runs `" + any_entry["command"] + "` on the plan it writes.", ""]
    notes = HERE / "notes.md"  # the hand-written reading of the numbers, kept beside them
    if notes.is_file():
        lines += [notes.read_text().rstrip(), ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # teachers: only the users' training (to run beside another model's build, at a lower priority)
    parser.add_argument("action", choices=["all", "teachers", "render"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--preset", choices=["fast", "quality"], default="quality")
    parser.add_argument("--max-epochs", type=int, default=60, help="the users' training: at most this many epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "user_models")
    args = parser.parse_args()
    if args.action in ("all", "teachers"):
        args.work.mkdir(parents=True, exist_ok=True)
        if not (args.work / "folder").exists():
            write_folder(args.work / "folder", PER_CLASS, args.seed)
        for name in args.models:
            if args.action == "teachers":
                user_model(name, args.work, args.max_epochs, args.seed)
            else:
                run_model(name, args.work, args.preset, args.max_epochs, args.seed)
        if args.action == "teachers":
            return 0
    (HERE / "results.md").write_text(render(json.loads(RESULTS.read_text())))
    print((HERE / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
