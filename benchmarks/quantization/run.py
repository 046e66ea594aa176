"""Quantization suite: one row per mode on the cached cnn-teacher, Fashion-MNIST (10k test images).

Runs `edgecomp build --config benchmarks/quantization/plan.yaml` (train -> quantize with every PTQ
mode -> qat -> export + parity -> host benchmark through the foundation runner) and renders
results.md / results.json from its report.json. Every number comes from that one run.

Usage: .venv/bin/python benchmarks/quantization/run.py [--out RUN_DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ROW_ORDER = [("tflite", "float32"), ("tflite", "dynamic"), ("tflite", "float16"), ("tflite", "int8"),
             ("tflite", "int8_io"), ("tflite", "uint8_io"), ("tflite", "int16x8"), ("tflite", "int8_mixed"),
             ("tflite", "qat_int8"), ("onnx", "float32"), ("onnx", "int8")]
QAT_TOLERANCE_POINTS = 0.5


def fmt(value, spec: str, missing: str = "—") -> str:
    return missing if value is None else format(value, spec)


def render(report: dict, command: str) -> tuple[str, dict]:
    artifacts = {(a["format"], a["precision"]): a for a in report["artifacts"]}
    base = artifacts.get(("tflite", "float32"))
    rows, lines = [], []
    for key in ROW_ORDER:
        a = artifacts.get(key)
        if a is None:
            continue
        p50 = (a.get("latency_ms") or {}).get("p50")
        acc = None if a.get("accuracy") is None else 100 * a["accuracy"]
        base_acc = 100 * base["accuracy"] if base and base.get("accuracy") is not None else None
        row = {
            "artifact": a["name"], "format": a["format"], "precision": a["precision"], "status": a["status"],
            "accuracy_pct": acc, "accuracy_samples": a.get("accuracy_samples"),
            "delta_vs_tflite_float32_pt": None if acc is None or base_acc is None else acc - base_acc,
            "size_bytes": a.get("size_bytes"), "gzip_bytes": a.get("gzip_bytes"), "p50_ms": p50,
            "size_ratio_vs_tflite_float32": (base["size_bytes"] / a["size_bytes"]) if base and a.get("size_bytes") else None,
            "speedup_vs_tflite_float32": (base["latency_ms"]["p50"] / p50) if base and p50 else None,
            "parity_top1": (a.get("parity") or {}).get("top1_agreement"),
            "tflite_runtime_2_14": a.get("tflite_runtime_2_14"), "error": a.get("error"),
        }
        rows.append(row)
        rt = row["tflite_runtime_2_14"]
        rt_text = "—" if rt is None else ("loads" if rt.get("ok") else f"fails: {rt.get('error')}")
        lines.append(
            f"| {row['artifact']} | {row['status']} | {fmt(acc, '.2f')} | {fmt(row['delta_vs_tflite_float32_pt'], '+.2f')} "
            f"| {fmt(row['size_bytes'] and row['size_bytes'] / 1e3, '.1f')} | {fmt(row['gzip_bytes'] and row['gzip_bytes'] / 1e3, '.1f')} "
            f"| {fmt(p50, '.3f')} | {fmt(row['size_ratio_vs_tflite_float32'], '.2f')}x "
            f"| {fmt(row['speedup_vs_tflite_float32'], '.2f')}x | {fmt(row['parity_top1'], '.3f')} | {rt_text} |")
    qat, flt = artifacts.get(("tflite", "qat_int8")), base
    qat_gap = None
    if qat and flt and qat.get("accuracy") is not None and flt.get("accuracy") is not None:
        qat_gap = 100 * (flt["accuracy"] - qat["accuracy"])
    qat_stage = next((s for s in report["stages"] if s["stage"] == "qat"), None)
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v)
    text = [
        "# Quantization suite: every mode on cnn-teacher, Fashion-MNIST",
        "",
        f"Command: `{command}` (plan: `benchmarks/quantization/plan.yaml`), run {report['created']}, "
        f"wall {report['wall_seconds']:.0f} s.",
        f"Versions: {versions}.",
        f"Host: {report['host']['cpu']}, {report['host']['cores']} cores (shared with other engineers' training "
        "jobs during this run, so latencies carry noise; ratios are within one run).",
        f"Dataset: {report['dataset'].get('name')}, accuracy through each artifact on "
        f"{rows[0]['accuracy_samples'] if rows else '?'} test images, one image per invoke; calibration: "
        "500 training images. Latency: single image, 1 thread, host runner (ai-edge-litert / onnxruntime).",
        f"Keras model after the plan's stages (the QAT model, fake-quant): accuracy {100 * report['keras']['accuracy']:.2f}%.",
        "",
        "| artifact | status | accuracy % | Δ vs tflite fp32 (pt) | size kB | gzip kB | p50 ms | size ratio vs fp32 "
        "| speed-up vs fp32 | parity top-1 | tflite-runtime 2.14 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *lines,
        "",
        "Ratios are against the TFLite float32 row (`float32 size / artifact size`, `float32 p50 / artifact p50`); "
        "kB = 10^3 bytes. Parity top-1: agreement with the Keras model each artifact was exported from "
        "(the pre-QAT float model, except qat_int8 which is compared with the QAT model), on 500 test images.",
        "",
    ]
    if qat_gap is not None:
        verdict = "PASS" if qat_gap <= QAT_TOLERANCE_POINTS else "FAIL"
        text.append(f"QAT int8 vs float32: {-qat_gap:+.2f} points (requirement: at most "
                    f"{QAT_TOLERANCE_POINTS} point below float32) -> **{verdict}**.")
    if qat_stage:
        info = qat_stage["info"]
        text.append(f"QAT: {info.get('epochs')} epochs on the full training split, "
                    f"{info.get('seconds_per_epoch', 0):.0f} s/epoch, scheme {info.get('scheme')}, "
                    f"layers left float: {info.get('float_fallback_layers') or 'none'}.")
    mixed = artifacts.get(("tflite", "int8_mixed"))
    if mixed:
        text.append(f"int8_mixed keeps float: {mixed.get('float_fallback_tensors')}.")
    debugged = [a for a in report["artifacts"] if (a.get("quant_debug") or {}).get("worst_layers")]
    for a in debugged:
        d = a["quant_debug"]
        text.append(f"{a['name']} lost {d['drop_points']:.2f} points on the parity images; worst layers: "
                    + "; ".join(f"{w['op_name']} {w['tensor_name']} (rmse/scale {w['rmse_over_scale']:.2f})"
                                for w in d["worst_layers"]))
    text += ["", "Notes: int16x8 has no optimised (XNNPACK/ruy) kernels in LiteRT, so it runs reference "
             "kernels and is far slower than float32 on CPU: use it for accuracy, not speed. The dynamic-range "
             "file uses FULLY_CONNECTED op version 12 (TF 2.21), which tflite-runtime 2.14 lacks; ship int8 to "
             "such devices. QAT fine-tunes the 10-epoch teacher for 2 epochs (the stage default) at lr 1e-4 on the full training split; no reduced settings.", ""]
    return "\n".join(text), {"command": command, "versions": report["versions"], "host": report["host"],
                             "rows": rows, "qat_gap_points": qat_gap, "run_dir": report["run_dir"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/edgecomp-bench-quantization")
    parser.add_argument("--render-only", action="store_true", help="re-render from an existing report.json")
    args = parser.parse_args()
    command = [str(ROOT / ".venv" / "bin" / "edgecomp"), "build", "--config", str(HERE / "plan.yaml"),
               "--out", args.out]
    started = time.perf_counter()
    proc = subprocess.run(["true"]) if args.render_only else subprocess.run(command, cwd=ROOT)
    report_path = Path(args.out) / "report.json"
    if not report_path.exists():
        print(f"build failed (exit {proc.returncode}) and wrote no report", file=sys.stderr)
        return 1
    shown = "edgecomp build --config benchmarks/quantization/plan.yaml --out " + args.out
    markdown, summary = render(json.loads(report_path.read_text()), shown)
    summary["benchmark_wall_seconds"] = round(time.perf_counter() - started, 1)
    (HERE / "results.md").write_text(markdown)
    (HERE / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
