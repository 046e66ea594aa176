#!/usr/bin/env python3
"""Runs the default `edgecomp build` from scratch (empty model cache) and commits its result table.

    .venv/bin/python benchmarks/default_build/run.py

Writes benchmarks/default_build/results.md and results.json: accuracy, sizes, latencies, int8 vs
float ratios, the wall time of the whole build, the command and the versions. Every number comes
from the build this script just ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def main() -> int:
    if sys.argv[1:] == ["--render-only"]:  # re-render results.md from the committed results.json
        (HERE / "results.md").write_text(render(json.loads((HERE / "results.json").read_text())))
        return 0
    with tempfile.TemporaryDirectory(prefix="edgecomp-bench-") as tmp:
        run_dir = Path(tmp) / "run"
        command = [str(Path(sys.executable).parent / "edgecomp"), "build", "--target", "host", "--out", str(run_dir)]
        # An empty cache: the teacher is trained in this run, so the wall time is a from-scratch build.
        env = dict(os.environ, EDGECOMP_CACHE_DIR=str(Path(tmp) / "cache"))
        started = time.perf_counter()
        subprocess.run(command, check=True, env=env, cwd=ROOT)
        wall_s = time.perf_counter() - started
        report = json.loads((run_dir / "report.json").read_text())
        (HERE / "report.html").write_bytes((run_dir / "report.html").read_bytes())
    results = summarize(report, wall_s)
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / "results.md").write_text(render(results))
    print((HERE / "results.md").read_text())
    return 0


def summarize(report: dict, wall_s: float) -> dict:
    keys = ("name", "status", "precision", "params", "size_bytes", "gzip_bytes", "accuracy", "latency_ms", "init_ms",
            "model_load_mb", "model_peak_mb", "process_peak_mb", "acc_per_mb", "acc_per_ms", "vs_float32", "parity")
    artifacts = [{key: a.get(key) for key in keys} for a in report["artifacts"]]
    return {
        "command": "edgecomp build --target host  (EDGECOMP_CACHE_DIR empty: teacher trained in this run)",
        "script": "python benchmarks/default_build/run.py",
        "created": report["created"],
        "wall_seconds": round(wall_s, 1),
        "host": report["host"],
        "versions": report["versions"],
        "keras_accuracy": report["keras"]["accuracy"],
        "params": report["keras"]["params"],
        "train_stage": {k: v for k, v in report["stages"][0]["info"].items() if k != "history"},
        "stage_names": [stage["stage"] for stage in report["stages"]],
        "timing_floor_ms": report["timing_floor_ms"],
        "plan": report["plan"],
        "artifacts": artifacts,
    }


def render(results: dict) -> str:
    lines = [
        "# Default build, measured",
        "",
        f"Command: `{results['command']}`, run by `{results['script']}` on {results['created']}.",
        f"Host: {results['host']['cpu']}, {results['host']['cores']} cores. Whole build wall time: "
        f"**{results['wall_seconds']:.0f} s** (training included).",
        f"Teacher (`{results['plan']['model']}`), trained in this run for {results['train_stage'].get('epochs')} "
        f"epochs ({results['train_stage'].get('seconds_per_epoch', 0):.1f} s/epoch with validation): "
        f"**{teacher_accuracy(results)}** test accuracy through its float32 TFLite. "
        f"Final Keras model after the stages ({', '.join(results['stage_names'])}): {results['params']:,} "
        f"parameters, {100 * results['keras_accuracy']:.2f}%.",
        "",
        "| artifact | status | size | gzip | accuracy | p50 ms | p90 ms | p99 ms | init ms | model MB "
        "| acc/MB | acc/ms | size ratio vs fp32 | latency ratio vs fp32 | accuracy vs fp32 (pt) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in results["artifacts"]:
        lat = a.get("latency_ms") or {}
        vs = a.get("vs_float32") or {}

        def num(value, spec):
            return "—" if value is None else format(value, spec)

        lines.append(
            f"| {a['name']} | {a['status']} | {a['size_bytes']:,} B | {a['gzip_bytes']:,} B | "
            f"{num(a['accuracy'] and 100 * a['accuracy'], '.2f')}% | {num(lat.get('p50'), '.4f')} | "
            f"{num(lat.get('p90'), '.4f')} | {num(lat.get('p99'), '.4f')} | {num(a.get('init_ms'), '.2f')} | "
            f"{num(a.get('model_peak_mb'), '.2f')} | {num(a.get('acc_per_mb'), '.3f')} | {num(a.get('acc_per_ms'), '.2f')} | "
            f"{num(vs.get('size_ratio'), '.2f')} | {num(vs.get('latency_p50_ratio'), '.2f')} | "
            f"{num(vs.get('accuracy_delta') and 100 * vs['accuracy_delta'], '+.2f')} |")
    floor = results["timing_floor_ms"] or {}
    versions = ", ".join(f"{k} {v}" for k, v in results["versions"].items() if v)
    lines += [
        "",
        f"Latency: one image per invocation, {results['plan']['bench']['threads']} thread, after "
        f"{results['plan']['bench']['warmup']} warm-up runs, at least {results['plan']['bench']['min_runs']} runs "
        f"and {results['plan']['bench']['min_time_s']} s. Runner timing floor (trivial model, same run): "
        f"p50 {num_or_dash(floor.get('p50'))} ms. Accuracy: the full test split through each artifact. "
        "The machine is shared: compare ratios measured side by side, not absolute milliseconds across runs.",
        "",
        f"Versions: {versions}.",
        "",
    ]
    return "\n".join(lines)


def teacher_accuracy(results: dict) -> str:
    """The trained model's own accuracy: the original float32 artifact, else the float32 one."""
    rows = [a for a in results["artifacts"] if a["name"] == "model_original_float32.tflite"] or \
        [a for a in results["artifacts"] if a["name"] == "model_float32.tflite"]
    return f"{100 * rows[0]['accuracy']:.2f}%" if rows and rows[0]["accuracy"] is not None else "—"


def num_or_dash(value) -> str:
    return "—" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    sys.exit(main())
