#!/usr/bin/env python3
"""The default build's files on the host and on an emulated arm64 Raspberry Pi, side by side.

    .venv/bin/python benchmarks/arm64_emulated/run.py [--train-limit N --epochs N] [--accuracy-samples N]
                                                      [--host-run RUN_DIR]

1. `edgecomp build --target host` with the default plan, optionally on fewer training images and
   teacher epochs (the default build takes 6 minutes on an idle 2-core machine, much longer on a
   busy one), or an existing run folder (--host-run);
2. `scripts/make-arm64-pi.sh` and `scripts/arm64-pi-sshd.sh start` (both reuse what exists);
3. `edgecomp bench` of every artifact on `rpi4-emulated` (ai-edge-litert 2.3, numpy 2) and on
   `rpi4-emulated-tflite-runtime` (tflite-runtime 2.14, Debian's numpy 1.24). The emulated target also
   runs each file on the host with the same runtime on the same images.

Writes results.json and results.md beside this script: per artifact and runtime, whether it loads on
ARM, the ARM accuracy, the host's accuracy with the same runtime, their difference, and the emulated
latency, which is QEMU's and is not comparable with any device (or with the host).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EDGECOMP = str(Path(sys.executable).parent / "edgecomp")
PROFILES = ["rpi4-emulated", "rpi4-emulated-tflite-runtime"]
EMULATED_BENCH = ["--min-runs", "50", "--min-time", "0"]


def run(command: list[str], **kwargs) -> float:
    """Runs a command (its output to our stdout), fails loudly, returns its wall time in seconds."""
    print("+", " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, **kwargs)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host-run", type=Path, help="an existing `edgecomp build --target host` run folder")
    parser.add_argument("--train-limit", type=int, help="training images for the host build (default: all)")
    parser.add_argument("--epochs", type=int, help="teacher epochs for the host build (default: the plan's)")
    parser.add_argument("--accuracy-samples", type=int, default=None, help="test images (default: all)")
    parser.add_argument("--render-only", action="store_true", help="re-render results.md from results.json")
    args = parser.parse_args()
    if args.render_only:
        (HERE / "results.md").write_text(render(json.loads((HERE / "results.json").read_text())))
        return 0
    with tempfile.TemporaryDirectory(prefix="edgecomp-arm64-") as tmp:
        timings = {}
        host_run = args.host_run
        if host_run is None:
            host_run = Path(tmp) / "host"
            smaller = [*(["--train-limit", str(args.train_limit)] if args.train_limit else []),
                       *(["--epochs", str(args.epochs)] if args.epochs else [])]
            timings["host_build_s"] = run([EDGECOMP, "build", "--target", "host", *smaller, "--out", str(host_run)])
        timings["make_arm64_pi_s"] = run(["bash", "scripts/make-arm64-pi.sh"])
        run(["bash", "scripts/arm64-pi-sshd.sh", "start"])
        host_report = json.loads((host_run / "report.json").read_text())
        files = [str(host_run / a["path"]) for a in host_report["artifacts"] if a["status"] != "failed"]
        samples = ["--accuracy-samples", str(args.accuracy_samples)] if args.accuracy_samples else []
        emulated = {}
        for profile in PROFILES:
            out = Path(tmp) / profile
            timings[f"bench_{profile}_s"] = run([EDGECOMP, "bench", *files, "--target", profile, *EMULATED_BENCH,
                                                 *samples, "--out", str(out)], env=dict(os.environ))
            emulated[profile] = json.loads((out / "report.json").read_text())
    results = summarize(host_report, emulated, timings, args)
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / "results.md").write_text(render(results))
    print((HERE / "results.md").read_text())
    return 0


def summarize(host_report: dict, emulated: dict, timings: dict, args) -> dict:
    rows = []
    for artifact in host_report["artifacts"]:
        row = {"name": artifact["name"], "precision": artifact["precision"], "size_bytes": artifact.get("size_bytes"),
               "host_build": {"status": artifact["status"], "accuracy": artifact.get("accuracy"),
                              "accuracy_samples": artifact.get("accuracy_samples"),
                              "p50_ms": (artifact.get("latency_ms") or {}).get("p50"),
                              "runtime": artifact.get("runtime")},
               "sparse_layers": sorted(name for name, layer in ((artifact.get("sparsity") or {}).get("layers") or {})
                                       .items() if layer.get("storage") == "sparse")}
        for profile, report in emulated.items():
            board = next((a for a in report["artifacts"] if a["name"] == artifact["name"]), None) or {}
            row[profile] = {key: board.get(key) for key in (
                "status", "error", "runtime", "accuracy", "accuracy_samples", "host_accuracy", "host_runtime",
                "accuracy_vs_host_points", "init_ms", "host_error")}
            row[profile]["input_dtype"] = (board.get("io") or {}).get("input_dtype")
            row[profile]["emulated_p50_ms"] = (board.get("latency_ms") or {}).get("p50")
        rows.append(row)
    first = emulated[PROFILES[0]]["target"]["facts"]
    return {
        "script": "python benchmarks/arm64_emulated/run.py" + "".join(
            f" --{flag.replace('_', '-')} {getattr(args, flag)}" for flag in ("train_limit", "epochs", "accuracy_samples",
                                                                            "host_run") if getattr(args, flag)),
        "host_build_command": host_report["command"],
        "emulated_bench": f"edgecomp bench ARTIFACTS --target PROFILE {' '.join(EMULATED_BENCH)}",
        "created": emulated[PROFILES[0]]["created"],
        "host": host_report["host"],
        "host_versions": host_report["versions"],
        "emulated_facts": {profile: {k: report["target"]["facts"].get(k) for k in (
            "architecture", "emulator", "python", "numpy", "runtimes", "cpu")} for profile, report in emulated.items()},
        "emulator": first.get("emulator"),
        "stages": [s["stage"] for s in host_report["stages"]],
        "teacher_cached": bool(host_report["stages"][0].get("cached")),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "artifacts": rows,
    }


NOTES = """Notes on this run:
- A smaller default chain (the default stages on 10,000 training images, teacher 3 epochs), because the full
  default build took over 25 minutes on the busy shared machine. With so few steps the teacher's
  BatchNormalization statistics do not settle, so its own float32 file is near chance (that file is the
  "before" of the chain, not its result); the distilled, pruned and QAT files are what the chain ships.
- 300 test images per file: under emulation the teacher's float32 file costs seconds per hundred images.
  With 300 images one differing prediction would be 0.33 points; every file gave the host's accuracy exactly.
- The `.onnx` file fails on `rpi4-emulated-tflite-runtime` by design: that environment has no onnxruntime.
- The int8 file's input is float32: QAT int8 keeps float I/O (int8 I/O files are the `int8_io`/`uint8_io`
  PTQ modes, which the end-to-end test covers)."""


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def _ms(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def render(results: dict) -> str:
    lines = [
        "# The default build on an emulated arm64 Raspberry Pi",
        "",
        f"Command: `{results['script']}` on {results['created']}. Host build: `{results['host_build_command']}` "
        f"(stages {', '.join(results['stages'])}; teacher {'from the model cache' if results['teacher_cached'] else 'trained in this run'}). "
        f"Emulated: `{results['emulated_bench']}` for each profile.",
        "",
        f"Emulator: {results['emulator']}, on {results['host']['cpu']} ({results['host']['cores']} cores, shared with "
        "other jobs). Board software: Debian bookworm arm64, Python "
        f"{results['emulated_facts'][PROFILES[0]]['python']}; `rpi4-emulated` = ai-edge-litert "
        f"{results['emulated_facts'][PROFILES[0]]['runtimes'].get('ai_edge_litert')} with numpy "
        f"{results['emulated_facts'][PROFILES[0]]['numpy']}, `rpi4-emulated-tflite-runtime` = tflite-runtime "
        f"{results['emulated_facts'][PROFILES[1]]['runtimes'].get('tflite_runtime')} with Debian's numpy "
        f"{results['emulated_facts'][PROFILES[1]]['numpy']}.",
        "",
        "**Emulated latencies are QEMU's on a shared x86 machine: they are not a Raspberry Pi's and are not "
        "comparable with the host's or any device's. They are listed only to show the files ran.**",
        "",
        "| artifact | runtime on ARM | loads on ARM | input | ARM accuracy | host accuracy (same runtime, same images) "
        "| ARM - host | emulated p50 ms (not comparable) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["artifacts"]:
        for profile in PROFILES:
            board = row.get(profile) or {}
            runtime = board.get("runtime") or {}
            runtime_text = f"{runtime.get('name')} {runtime.get('version')}" if runtime else profile
            if board.get("status") == "failed":
                loads = f"**no**: {board.get('error')}"
            else:
                loads = "yes"
            delta = board.get("accuracy_vs_host_points")
            lines.append(f"| {row['name']} | {runtime_text} | {loads} | {board.get('input_dtype') or '—'} | "
                         f"{_pct(board.get('accuracy'))} | {_pct(board.get('host_accuracy'))} | "
                         f"{'—' if delta is None else f'{delta:+.2f} pt'} | {_ms(board.get('emulated_p50_ms'))} |")
    samples = next((row[p].get("accuracy_samples") for row in results["artifacts"] for p in PROFILES
                    if row[p].get("accuracy_samples")), None)
    lines += [
        "",
        f"Accuracy on {samples} Fashion-MNIST test images, one image per invocation. Host build (x86, its own "
        "run): " + "; ".join(f"{row['name']} {_pct(row['host_build']['accuracy'])}, p50 {_ms(row['host_build']['p50_ms'])} ms"
                             for row in results["artifacts"]) + ".",
        "",
        "Sparse (TFLite sparse format) layers: " + "; ".join(
            f"{row['name']}: {', '.join(row['sparse_layers'])}" for row in results["artifacts"] if row["sparse_layers"])
        + ".",
        "",
        "Wall times (s): " + ", ".join(f"{k} {v}" for k, v in results["timings_s"].items()) + ".",
        "",
        NOTES,
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
