#!/usr/bin/env python3
"""The default chain (teacher -> KD -> global prune -> QAT int8), with the fast and the quality
preset, against the PTQ-only plan, one run.

    .venv/bin/python benchmarks/default_chain/run.py [--render-only] [--plans NAME ...]

`--plans` runs only the named plans and keeps the other plans' rows from results.json; each plan
records when, at which commit and against which teacher it was measured, and its "vs teacher" is
against the teacher of its own run.

The plans run back to back in this script on the same machine, sharing the trained teacher
(trained once, at the first plan, if not cached; the seed-1 plan trains its own) and, through the stage cache, any stages their
plans have in common (the quality plan's distill stage is its ablation's). Writes results.md / results.json beside this
file: every artifact of both plans with accuracy (full test set, through the artifact), raw and
gzip size, host latency, acc per MB and acc per ms, plus the command and versions.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from edgecomp.measure.metrics import EFFICIENCY_NOTE, efficiency  # noqa: E402
from edgecomp.plan.plan import DEFAULT_STAGES, PTQ_ONLY_STAGES  # noqa: E402

# The ablation: the quality preset with prune and QAT fine-tuned on the KD loss against the
# teacher (teacher_kd) instead of the labels; it shares the quality plan's distill stage (cache).
WITH_TEACHER_KD = [{**stage, "teacher_kd": True} if stage["stage"] in ("prune", "qat") else stage
                   for stage in DEFAULT_STAGES]
# The same chain with the student sized to issue 15's budget (15x smaller raw than the teacher):
# cnn-assistant-wide, ~84k parameters against cnn-assistant's 61k.
WIDE_STUDENT = [{**stage, "student": "cnn-assistant-wide"} if stage["stage"] == "distill" else stage
                for stage in DEFAULT_STAGES]
PLANS = {"ptq-only": {"stages": PTQ_ONLY_STAGES},
         "default-chain fast": {"preset": "fast", "stages": DEFAULT_STAGES},
         "default-chain quality": {"preset": "quality", "stages": DEFAULT_STAGES},
         "quality + teacher_kd": {"preset": "quality", "stages": WITH_TEACHER_KD},
         "quality, cnn-assistant-wide": {"preset": "quality", "stages": WIDE_STUDENT},
         # the same plan from another seed (a teacher of its own too): how far one run is from the next
         "quality, cnn-assistant-wide, seed 1": {"preset": "quality", "seed": 1, "stages": WIDE_STUDENT}}


def run_plan(name: str, settings: dict, folder: Path) -> dict:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    plan = folder / f"{slug}.yaml"
    plan.write_text(yaml.safe_dump({"name": slug, **settings}, sort_keys=False))
    out = folder / slug
    edgecomp = str(Path(sys.executable).parent / "edgecomp")
    subprocess.run([edgecomp, "build", "--config", str(plan), "--out", str(out)], check=True, cwd=ROOT)
    return json.loads((out / "report.json").read_text())


def row(plan: str, a: dict) -> dict:
    latency = a.get("latency_ms") or {}
    return {"plan": plan, "artifact": a["name"], "status": a["status"], "params": a.get("params"),
            "accuracy": a.get("accuracy"), "size_bytes": a.get("size_bytes"), "gzip_bytes": a.get("gzip_bytes"),
            "sparsity_in_file": (a.get("sparsity") or {}).get("overall"), "p50_ms": latency.get("p50"),
            "p90_ms": latency.get("p90"), "acc_per_mb": a.get("acc_per_mb"), "acc_per_ms": a.get("acc_per_ms")}


def with_efficiency(r: dict) -> dict:
    """The row with acc/MB and acc/ms recomputed in percent (results.json before report schema 2: a fraction)."""
    return {**r, **efficiency(r.get("accuracy"), r.get("size_bytes"), r.get("gzip_bytes"), r.get("p50_ms"))}


def fmt(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def render(results: dict) -> str:
    separate_runs = len({(run["created"], run["commit"]) for run in results.get("runs", {}).values()}) > 1
    lines = [f"# Default chain vs PTQ-only, measured in {'separate runs' if separate_runs else 'one run'}", "",
             f"Command: `{results['command']}` on {results['created']}. Host: {results['host']['cpu']}, "
             f"{results['host']['cores']} cores (shared machine: compare rows of this table with each other, "
             "not with other runs).", "",
             "Plans (each preceded by training the default cnn-teacher, 10 epochs, cached after the first; a "
             "preset fills the epochs and augmentation the stages leave unset, see `PRESETS` in edgecomp/plan/plan.py):",
             ""]
    lines += [f"- **{name}**: `{json.dumps(settings)}`" for name, settings in results["plans"].items()]
    lines += ["", "| plan | artifact | status | params | accuracy | size | gzip | zeros in file | p50 ms | "
              "acc/MB (raw) | acc/ms |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in map(with_efficiency, results["rows"]):
        lines.append(
            f"| {r['plan']} | {r['artifact']} | {r['status']} | {fmt(r['params'], ',')} | "
            f"{fmt(r['accuracy'] and 100 * r['accuracy'], '.2f')}% | {fmt(r['size_bytes'], ',')} B | "
            f"{fmt(r['gzip_bytes'], ',')} B | {fmt(r['sparsity_in_file'], '.1%')} | {fmt(r['p50_ms'], '.4f')} | "
            f"{fmt(r['acc_per_mb'], '.2f')} | {fmt(r['acc_per_ms'], '.1f')} |")
    lines += ["", "Deployable int8 artifact of each plan, against the teacher's float32 TFLite (accuracy on the "
              "full test split; compression stages' time excludes the teacher's training, shared by all plans):",
              "", "| plan | artifact | accuracy | vs teacher | raw size | x smaller | gzip | p50 ms | acc/MB | "
              "compression stages' time |", "|---|---|---|---|---|---|---|---|---|---|"]
    for plan, best in results["deployable"].items():
        best, teacher = with_efficiency(best), results.get("teachers", {}).get(plan, results["teacher"])
        seconds = sum(s for stage, s in results["stage_seconds"][plan].items() if stage != "train")
        lines.append(f"| {plan} | `{best['artifact']}` | {100 * best['accuracy']:.2f}% | "
                     f"{100 * (best['accuracy'] - teacher['accuracy']):+.2f} pt | {best['size_bytes']:,} B | "
                     f"{teacher['size_bytes'] / best['size_bytes']:.1f}x | {best['gzip_bytes']:,} B | "
                     f"{best['p50_ms']:.4f} | {best['acc_per_mb']:.2f} | {seconds / 60:.1f} min |")
    if separate_runs:
        lines += ["", "Plans measured in separate runs (each against the teacher of its own run, whose accuracy "
                  "is given; latency is comparable only within a run):", ""]
        lines += [f"- **{plan}**: `{run['command']}` on {run['created']}, commit "
                  f"{run['commit']}, teacher {100 * results['teachers'][plan]['accuracy']:.2f}%"
                  for plan, run in results["runs"].items()]
    versions = ", ".join(f"{k} {v}" for k, v in results["versions"].items() if v)
    lines += ["", EFFICIENCY_NOTE, "", f"Versions: {versions}.", ""]
    notes = HERE / "notes.md"  # hand-written reading of the numbers (and later runs), kept beside them
    if notes.is_file():
        lines += [notes.read_text().rstrip(), ""]
    return "\n".join(lines)


def own_teacher(rows: list[dict], plan: str) -> dict:
    """The float32 TFLite of the teacher `plan` started from: ptq-only's float file, or a compressing
    plan's `model_original_float32.tflite` (its `model_float32.tflite` is the compressed student)."""
    name = "model_float32.tflite" if plan == "ptq-only" else "model_original_float32.tflite"
    found = [r for r in rows if r["plan"] == plan and r["artifact"] == name]
    if not found:
        raise SystemExit(f"plan {plan!r} has no {name}: its teacher cannot be compared")
    return found[0]


def commit() -> str | None:
    # --dirty: a run from a checkout with local edits says so
    done = subprocess.run(["git", "describe", "--always", "--dirty"], check=False, cwd=ROOT, capture_output=True,
                          text=True)
    return done.stdout.strip() or None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render-only", action="store_true", help="rewrite results.md from results.json")
    parser.add_argument("--plans", nargs="+", choices=list(PLANS), default=list(PLANS),
                        help="run only these plans; the others' rows are kept from results.json")
    args = parser.parse_args()
    if args.render_only:
        (HERE / "results.md").write_text(render(json.loads((HERE / "results.json").read_text())))
        return 0
    partial = set(args.plans) != set(PLANS)
    # Read before the hours of runs, so that a missing file fails now rather than after them.
    kept = json.loads((HERE / "results.json").read_text()) if partial else {}
    with tempfile.TemporaryDirectory(prefix="edgecomp-chain-") as tmp:
        reports = {name: run_plan(name, PLANS[name], Path(tmp)) for name in args.plans}
    command = "python benchmarks/default_chain/run.py"
    if partial:
        command += " --plans " + " ".join(shlex.quote(name) for name in args.plans)
    run = {"created": next(iter(reports.values()))["created"], "commit": commit(), "command": command}
    rows = [r for r in kept.get("rows", []) if r["plan"] not in reports]
    rows += [row(name, a) for name, report in reports.items() for a in report["artifacts"]]
    order = {name: i for i, name in enumerate(PLANS)}
    rows.sort(key=lambda r: order.get(r["plan"], len(order)))  # stable: artifacts keep their order
    plans = [name for name in PLANS if any(r["plan"] == name for r in rows)]
    deployable = {name: next(r for r in rows if r["plan"] == name and "int8" in r["artifact"]
                             and r["artifact"].endswith(".tflite")) for name in plans}
    any_report = next(iter(reports.values()))
    previous_run = {"created": kept.get("created"), "commit": kept.get("commit"), "command": kept.get("command")}
    results = {"command": command, "created": any_report["created"],
               "commit": run["commit"], "host": any_report["host"], "versions": any_report["versions"],
               "plans": {name: PLANS[name] for name in plans}, "rows": rows, "deployable": deployable,
               "teacher": own_teacher(rows, "ptq-only") if "ptq-only" in plans else own_teacher(rows, plans[0]),
               "teachers": {name: own_teacher(rows, name) for name in plans},
               "runs": {name: run if name in reports else kept.get("runs", {}).get(name, previous_run)
                        for name in plans},
               "stage_seconds": {**kept.get("stage_seconds", {}),
                                 **{name: {s["stage"]: s["seconds"] for s in r["stages"]} for name, r in reports.items()}},
               "wall_seconds": {**kept.get("wall_seconds", {}),
                                **{name: r["wall_seconds"] for name, r in reports.items()}}}
    if "measured_at" in kept:
        results["measured_at"] = kept["measured_at"]
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / "results.md").write_text(render(results))
    print((HERE / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
