#!/usr/bin/env python3
"""The default chain (teacher -> KD -> global prune -> QAT int8), with the fast and the quality
preset, against the PTQ-only plan, one run.

    .venv/bin/python benchmarks/default_chain/run.py [--render-only]

The plans run back to back in this script on the same machine, sharing the trained teacher
(trained once, at the first plan, if not cached) and, through the stage cache, any stages their
plans have in common (the quality plan's distill stage is its ablation's). Writes results.md / results.json beside this
file: every artifact of both plans with accuracy (full test set, through the artifact), raw and
gzip size, host latency, acc per MB and acc per ms, plus the command and versions.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from edgecomp.bench.metrics import EFFICIENCY_NOTE, efficiency  # noqa: E402
from edgecomp.config import DEFAULT_STAGES, PTQ_ONLY_STAGES  # noqa: E402

# The ablation: the quality preset with prune and QAT fine-tuned on the KD loss against the
# teacher (teacher_kd) instead of the labels; it shares the quality plan's distill stage (cache).
WITH_TEACHER_KD = [{**stage, "teacher_kd": True} if stage["stage"] in ("prune", "qat") else stage
                   for stage in DEFAULT_STAGES]
PLANS = {"ptq-only": {"stages": PTQ_ONLY_STAGES},
         "default-chain fast": {"preset": "fast", "stages": DEFAULT_STAGES},
         "default-chain quality": {"preset": "quality", "stages": DEFAULT_STAGES},
         "quality + teacher_kd": {"preset": "quality", "stages": WITH_TEACHER_KD}}


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
    lines = ["# Default chain vs PTQ-only, measured in one run", "",
             f"Command: `{results['command']}` on {results['created']}. Host: {results['host']['cpu']}, "
             f"{results['host']['cores']} cores (shared machine: compare rows of this table with each other, "
             "not with other runs).", "",
             "Plans (each preceded by training the default cnn-teacher, 10 epochs, cached after the first; a "
             "preset fills the epochs and augmentation the stages leave unset, see `PRESETS` in edgecomp/config.py):",
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
        best, teacher = with_efficiency(best), results["teacher"]
        seconds = sum(s for stage, s in results["stage_seconds"][plan].items() if stage != "train")
        lines.append(f"| {plan} | `{best['artifact']}` | {100 * best['accuracy']:.2f}% | "
                     f"{100 * (best['accuracy'] - teacher['accuracy']):+.2f} pt | {best['size_bytes']:,} B | "
                     f"{teacher['size_bytes'] / best['size_bytes']:.1f}x | {best['gzip_bytes']:,} B | "
                     f"{best['p50_ms']:.4f} | {best['acc_per_mb']:.2f} | {seconds / 60:.1f} min |")
    versions = ", ".join(f"{k} {v}" for k, v in results["versions"].items() if v)
    lines += ["", EFFICIENCY_NOTE, "", f"Versions: {versions}.", ""]
    notes = HERE / "notes.md"  # hand-written reading of the numbers (and later runs), kept beside them
    if notes.is_file():
        lines += [notes.read_text().rstrip(), ""]
    return "\n".join(lines)


def main() -> int:
    if "--render-only" in sys.argv[1:]:
        (HERE / "results.md").write_text(render(json.loads((HERE / "results.json").read_text())))
        return 0
    with tempfile.TemporaryDirectory(prefix="edgecomp-chain-") as tmp:
        reports = {name: run_plan(name, settings, Path(tmp)) for name, settings in PLANS.items()}
    rows = [row(name, a) for name, report in reports.items() for a in report["artifacts"]]
    deployable = {}
    for name in PLANS:
        int8 = [r for r in rows if r["plan"] == name and "int8" in r["artifact"] and r["artifact"].endswith(".tflite")]
        deployable[name] = int8[0]
    teacher = next(r for r in rows if r["plan"] == "ptq-only" and r["artifact"] == "model_float32.tflite")
    any_report = next(iter(reports.values()))
    results = {"command": "python benchmarks/default_chain/run.py", "created": any_report["created"],
               "host": any_report["host"], "versions": any_report["versions"], "plans": PLANS, "rows": rows,
               "deployable": deployable, "teacher": teacher,
               "stage_seconds": {name: {s["stage"]: s["seconds"] for s in r["stages"]} for name, r in reports.items()},
               "wall_seconds": {name: r["wall_seconds"] for name, r in reports.items()}}
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / "results.md").write_text(render(results))
    print((HERE / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
