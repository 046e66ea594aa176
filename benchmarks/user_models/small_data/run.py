#!/usr/bin/env python3
"""Issue 22's user scenario: a user's MobileNetV3Small and a 3,000-image folder, through the default plan.

    python benchmarks/user_models/small_data/run.py prepare            # the folder and the user's trained model
    python benchmarks/user_models/small_data/run.py build baseline     # edgecomp build through a plan file
    python benchmarks/user_models/small_data/run.py build flags --via flags   # the same through flags
    python benchmarks/user_models/small_data/run.py build NAME --set qat.teacher_kd=true ...  # a variant
    python benchmarks/user_models/small_data/run.py render             # results.md from results.json

What a user does, step by step:
- the folder: real Fashion-MNIST training images (Debian's dataset-fashion-mnist through
  edgecomp.data), 300 per class, each resized to a random 96-128 px square RGB image and written as
  PNG or JPEG, one sub-folder per class, plus one corrupt file (a truncated JPEG) as users have;
- the model: `keras.applications.MobileNetV3Small(weights=None, classes=10,
  classifier_activation=None)` at 64x64x3 (the folder's 96-128 px images resized by edgecomp's loader;
  64, not 96, so that one build fits ~15-25 min on 2 cores shared with four other engineers) (its own input rescaling: `normalization: raw`), trained
  by the "user" in Keras 3 on the folder's training split (edgecomp's own 80/20 split, so the test
  images are never seen) until its validation accuracy stops improving, saved as user.keras;
- the build: `edgecomp build --config plan.yaml` with a plan that names only the model and
  `dataset: {name: FOLDER, normalization: raw}` (or the same through flags). Variants add stage
  settings to that plan (`--set stage.key=value`), and nothing else changes: same data, same seed.

Everything the runs write goes to --work (default runs/small_data/, not committed); the results
(results.json; results.md from `render` and the notes) are beside this file.
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
ROOT = HERE.parent.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE.parent))

from folder_data import lower_bn_momentum, train_on_folder, write_folder  # noqa: E402

SIZE = 64  # the model's input; the folder's images are 96-128 px, resized by the loader as users' are
PER_CLASS = 300
RESULTS = HERE / "results.json"


def user_model():
    import keras

    # include_preprocessing (the default) rescales 0..255 inside the model; a logits head of 10 classes.
    model = keras.applications.MobileNetV3Small(input_shape=(SIZE, SIZE, 3), weights=None, classes=10,
                                                classifier_activation=None, dropout_rate=0.2)
    return lower_bn_momentum(model)


def train_user_model(folder: Path, path: Path, max_epochs: int, seed: int) -> dict:
    """The user's own training, in Keras 3: Adam, flip + shift augmentation, early stopping on validation."""
    return train_on_folder(user_model(), folder, SIZE, path, max_epochs, seed, patience=6)


def prepare(work: Path, max_epochs: int, seed: int) -> None:
    folder = work / "folder"
    if not folder.exists():
        write_folder(folder, PER_CLASS, seed)
    facts = train_user_model(folder, work / "user.keras", max_epochs, seed)
    (work / "user_model.json").write_text(json.dumps(facts, indent=1))
    print(json.dumps(facts, indent=1))


def parse_sets(sets: list[str]) -> dict[str, dict]:
    """`qat.teacher_kd=true` -> {"qat": {"teacher_kd": True}} (values read as YAML)."""
    out: dict[str, dict] = {}
    for item in sets:
        key, value = item.split("=", 1)
        stage, setting = key.split(".", 1)
        out.setdefault(stage, {})[setting] = yaml.safe_load(value)
    return out


def build(work: Path, name: str, via: str, sets: list[str], preset: str | None, env: dict, code: Path) -> None:
    """One `edgecomp build` of the user's model and folder; its summary is added to results.json."""
    folder, model = work / "folder", work / "user.keras"
    out = work / "runs" / name
    # The `edgecomp` entry point (pyproject's edgecomp.cli.main:run) of the checkout on PYTHONPATH.
    edgecomp = [sys.executable, "-c", "from edgecomp.cli.main import run; run()", "build"]
    if via == "flags":
        command = edgecomp + ["--model", str(model), "--dataset", str(folder), "--normalization", "raw"]
    else:
        plan: dict = {"model": str(model), "dataset": {"name": str(folder), "normalization": "raw"}}
        if sets:
            from edgecomp.plan.plan import default_stages

            changes = parse_sets(sets)
            stages = default_stages(str(model))
            for stage in stages:
                stage.update(changes.get(stage["stage"], {}))
            plan["stages"] = stages
        plan_path = work / f"{name}.yaml"
        plan_path.write_text(yaml.safe_dump(plan, sort_keys=False))
        command = edgecomp + ["--config", str(plan_path)]
    command += ["--out", str(out)] + (["--preset", preset] if preset else [])
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=code, env={**os.environ, **env, "PYTHONPATH": str(code)})
    wall = time.perf_counter() - started
    report = json.loads((out / "report.json").read_text())
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": {}}
    results["runs"][name] = summarize(report, via, sets, preset, command, completed.returncode, wall)
    results["runs"][name]["code"] = git_commit(code)
    RESULTS.write_text(json.dumps(results, indent=1))
    print(json.dumps(results["runs"][name], indent=1))


def git_commit(code: Path) -> str:
    """The checkout's commit, with `+dirty` when it has uncommitted changes."""
    head = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(code), "status", "--porcelain", "edgecomp"], capture_output=True, text=True)
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def summarize(report: dict, via: str, sets: list[str], preset, command: list[str], code: int, wall: float) -> dict:
    star = (report.get("recommended") or {})
    star_name = star.get("name") if isinstance(star, dict) else star
    artifacts = [{"name": a["name"], "role": a.get("role"), "precision": a.get("precision"), "status": a.get("status"),
                  "accuracy": a.get("accuracy"), "size_bytes": a.get("size_bytes"), "params": a.get("params"),
                  "p50_ms": (a.get("latency_ms") or {}).get("p50"), "star": a["name"] == star_name}
                 for a in report["artifacts"]]
    stages = []
    for stage in report["stages"]:
        info = stage.get("info") or {}
        fit = info.get("fine_tune") if isinstance(info.get("fine_tune"), dict) else info  # prune nests its fit
        val = (fit.get("history") or {}).get("val_accuracy") or [None]
        stages.append({"stage": stage["stage"], "seconds": stage.get("seconds"), "epochs": stage.get("epochs"),
                       "steps": stage.get("steps"), "best_weights": fit.get("best_weights"),
                       "val_accuracy_last": val[-1], "val_accuracy_max": max(val, key=lambda v: v or 0),
                       "teacher_kd": bool(fit.get("teacher_kd"))})
    return {"via": via, "sets": sets, "preset": preset or report["plan"].get("preset"), "exit_code": code,
            "command": "edgecomp " + shlex.join(command[3:]).replace(str(ROOT) + "/", ""), "wall_seconds": round(wall),
            "artifacts": artifacts, "recommended": star_name, "stages": stages,
            "warnings": [w.get("code") for w in report.get("warnings") or []],
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def fmt(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


RUN_ORDER = ("before", "after", "after_teacher_kd", "flags")


def ordered_runs(results: dict) -> list[tuple[str, dict]]:
    runs = results["runs"]
    return [(n, runs[n]) for n in RUN_ORDER if n in runs] + [(n, r) for n, r in runs.items() if n not in RUN_ORDER]


def render_table(results: dict, teacher: dict) -> str:
    """One row per artifact of each run, then each training stage's schedule and the epoch it kept."""
    lines = ["| run | plan | artifact | status | accuracy | vs teacher | size | x smaller | p50 ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, run in ordered_runs(results):
        original = next((a for a in run["artifacts"] if a["role"] == "original"), None)
        base_size = original and original["size_bytes"]
        sets = (", ".join(run["sets"]) or ("plan file" if run["via"] == "plan" else "flags")) + f" @ {run.get('code')}"
        for a in run["artifacts"]:
            if not a["name"].endswith(".tflite"):
                continue
            delta = a["accuracy"] is not None and 100 * (a["accuracy"] - teacher["artifact_accuracy"])
            ratio = base_size and a["size_bytes"] and base_size / a["size_bytes"]
            lines.append(f"| {name} | {sets} | {'★ ' if a['star'] else ''}{a['name']} | {a['status']} | "
                         f"{fmt(a['accuracy'] and 100 * a['accuracy'], '.2f')}% | {fmt(delta or None, '+.2f')} | "
                         f"{fmt(a['size_bytes'] and a['size_bytes'] / 1e3, ',.1f')} kB | {fmt(ratio, '.1f')}x | "
                         f"{fmt(a['p50_ms'], '.3f')} |")
    lines += ["", "| run | stage | epochs | steps | seconds | best epoch kept (val acc) | last epoch (val acc) | teacher_kd |",
              "|---|---|---|---|---|---|---|---|"]
    for name, run in ordered_runs(results):
        for stage in run["stages"]:
            best = stage.get("best_weights") or {}
            kept = (f"{best['epoch']} ({100 * best['value']:.2f}%)" if best.get("epoch") else "— (last epoch's)")
            last = stage.get("val_accuracy_last")
            lines.append(f"| {name} | {stage['stage']} | {fmt(stage['epochs'], 'd')} | {fmt(stage['steps'], ',')} | "
                         f"{fmt(stage['seconds'], '.0f')} | {kept} | {fmt(last and 100 * last, '.2f')} | "
                         f"{'yes' if stage.get('teacher_kd') else ''} |")
    return "\n".join(lines)


def render(work: Path) -> None:
    results = json.loads(RESULTS.read_text())
    teacher = json.loads((work / "user_model.json").read_text())
    original = next(a for run in results["runs"].values() for a in run["artifacts"] if a["role"] == "original")
    teacher["artifact_accuracy"] = original["accuracy"]
    print(render_table(results, teacher))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["prepare", "build", "render"])
    parser.add_argument("name", nargs="?", default="baseline")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "small_data")
    parser.add_argument("--via", choices=["plan", "flags"], default="plan")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="stage.key=value (plan only)")
    parser.add_argument("--preset", choices=["fast", "quality"])
    parser.add_argument("--max-epochs", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the build's environment")
    parser.add_argument("--code", type=Path, default=ROOT, help="the edgecomp checkout that builds (the before: main's)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.action == "prepare":
        prepare(args.work, args.max_epochs, args.seed)
    elif args.action == "render":
        render(args.work)
    else:
        build(args.work, args.name, args.via, args.sets, args.preset, dict(e.split("=", 1) for e in args.env),
              args.code.resolve())


if __name__ == "__main__":
    main()
