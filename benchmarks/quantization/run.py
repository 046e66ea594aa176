"""Quantization suite: every precision of edgecomp, the TFLite converter's and Google's AI Edge Quantizer's
(a8w8, a16w8, w4, dynamic_w4, auto), side by side on three models, each measured in one build.

- `teacher`: the zoo cnn-teacher, trained 10 epochs on the full Fashion-MNIST training split (the stage
  cache keeps it), all 10,000 test images: `edgecomp build --config benchmarks/quantization/plan.yaml`.
- `mobilenetv2_035`, `mobilenetv3_small`: keras.applications backbones (weights=None: nothing downloads
  here) trained by the plan's train stage on real Fashion-MNIST at 96x96x3 (`apps.py` writes the data, the
  model files and the plans), then every quantize mode.

Each build trains, quantizes, exports, checks parity and benchmarks every file on this host (accuracy on
the test images, size raw and gzip, latency p50 with 1 thread), all files of a model in one run. This
script renders results.md / results.json from the builds' report.json files; every number comes from them.

Usage: python benchmarks/quantization/run.py [--out DIR] [--suite all|teacher|apps] [--render-only]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's edgecomp, whichever is installed
sys.path.insert(0, str(HERE))

import apps  # noqa: E402
from edgecomp.exporters.edge_quantizer import layer_precisions, left_float, precision_summary  # noqa: E402
from edgecomp.plan.precisions import PRECISIONS  # noqa: E402
from edgecomp.reporting.markdown import markdown_table  # noqa: E402
from edgecomp.reporting.mixed_precision import auto_steps_note, auto_steps_table, layer_label  # noqa: E402

CLI = "import sys; from edgecomp.cli.main import run; sys.argv[0] = 'edgecomp'; sys.exit(run())"
MODELS = ["teacher", *apps.APPS]
ROW_ORDER = ["float32", "float16", "dynamic", "int8", "int8_io", "uint8_io", "int8_mixed", "int16x8", "qat_int8",
             "a8w8", "a16w8", "w4", "dynamic_w4", "auto"]
MADE_BY = {"converter": "converter", "selective_int8": "converter + debugger", "edge_quantizer": "AI Edge Quantizer",
           "edge_quantizer_auto": "AI Edge Quantizer"}
SHORT_TYPES = {"float32": "f32", "float16": "f16", "int8": "i8", "int16": "i16", "int4": "i4", "uint8": "u8"}


def build_command(config: Path, out: Path) -> list[str]:
    return [sys.executable, "-c", CLI, "build", "--config", str(config), "--out", str(out)]


def run_builds(out: Path, suite: str) -> list[str]:
    """Runs the suite's builds (a failed build still writes its report); returns the commands as shown."""
    shown = []
    env_note = f"PYTHONPATH={ROOT}"
    if suite in ("all", "teacher"):
        command = build_command(HERE / "plan.yaml", out / "teacher")
        shown.append(f"{env_note} edgecomp build --config benchmarks/quantization/plan.yaml --out {out / 'teacher'}")
        subprocess.run(command, cwd=ROOT, env={**_env(), "PYTHONPATH": str(ROOT)}, check=False)
    if suite in ("all", "apps"):
        folder = out / "apps"
        folder.mkdir(parents=True, exist_ok=True)
        apps.write_fmnist96(folder / "fmnist96.npz")
        for name in apps.APPS:
            plan = apps.write_plan(name, folder, folder / "fmnist96.npz")
            shown.append(f"{env_note} edgecomp build --config {plan} --out {folder / name}")
            subprocess.run(build_command(plan, folder / name), cwd=ROOT, env={**_env(), "PYTHONPATH": str(ROOT)},
                           check=False)
    return shown


def _env() -> dict:
    import os

    return dict(os.environ)


def report_path(out: Path, model: str) -> Path:
    return out / "teacher" / "report.json" if model == "teacher" else out / "apps" / model / "report.json"


def fmt(value, spec: str, missing: str = "—") -> str:
    return missing if value is None else format(value, spec)


def computes_in(layers: list[dict]) -> str:
    """'i8/i8 ×12, f32/f32 ×1': ops with weights by (weights / activations) type, read from the file."""
    parts = []
    for key, count in precision_summary(layers).items():
        weights, activations = key.split(" weights / ")
        activations = activations.removesuffix(" activations")
        parts.append(f"{SHORT_TYPES.get(weights, weights)}/{SHORT_TYPES.get(activations, activations)} ×{count}")
    return ", ".join(parts) or "—"


def artifact_row(artifact: dict, run_dir: Path, base: dict | None) -> dict:
    precision = artifact["precision"]
    recipe = PRECISIONS.get(precision) if precision in PRECISIONS else None
    p50 = (artifact.get("latency_ms") or {}).get("p50")
    base_p50 = (base or {}).get("latency_ms", {}).get("p50") if base else None
    acc = None if artifact.get("accuracy") is None else 100 * artifact["accuracy"]
    base_acc = None if not base or base.get("accuracy") is None else 100 * base["accuracy"]
    row = {"artifact": artifact["name"], "format": artifact["format"], "precision": precision,
           "made_by": "QAT + converter" if precision == "qat_int8" else
           MADE_BY.get(recipe.kind, recipe.kind) if recipe else "?",
           "status": artifact["status"], "accuracy_pct": acc, "accuracy_samples": artifact.get("accuracy_samples"),
           "delta_vs_float32_pt": None if acc is None or base_acc is None else acc - base_acc,
           "size_bytes": artifact.get("size_bytes"), "gzip_bytes": artifact.get("gzip_bytes"), "p50_ms": p50,
           "size_ratio": base["size_bytes"] / artifact["size_bytes"] if base and artifact.get("size_bytes") else None,
           "speedup": base_p50 / p50 if base_p50 and p50 else None,
           "parity": {k: (artifact.get("parity") or {}).get(k) for k in
                      ("decided_by", "passed", "reason", "top1_agreement", "mean_abs_diff", "accuracy_drop", "samples")},
           "error": artifact.get("error"), "float_fallback_tensors": artifact.get("float_fallback_tensors"),
           "tflite_runtime_2_14": artifact.get("tflite_runtime_2_14")}
    path = run_dir / artifact["path"]
    if artifact["format"] == "tflite" and path.is_file():
        layers = layer_precisions(path)  # read back from the file, for every recipe alike
        row["computes_in"] = computes_in(layers)
        row["weights_left_float"] = [layer["name"] for layer in left_float(layers)]
        row["layers_with_weights"] = sum(1 for layer in layers if layer["weights"] is not None)
    if artifact.get("quantizer"):
        row["quantizer"] = {k: v for k, v in artifact["quantizer"].items() if k != "auto"}
        if "auto" in artifact["quantizer"]:
            row["auto"] = artifact["quantizer"]["auto"]
    return row


def left_float_cell(row: dict) -> str:
    if "weights_left_float" not in row:
        return "—"
    names = row["weights_left_float"]
    if row["precision"] in ("float32", "float16"):
        return "all (a float file)"
    if not names:
        return "none"
    if len(names) == row.get("layers_with_weights"):
        return f"all {len(names)}"
    return f"{len(names)} of {row['layers_with_weights']}: " + ", ".join(layer_label(n) for n in names[:3]) + \
        (" …" if len(names) > 3 else "")


def runtime_cell(row: dict) -> str:
    check = row.get("tflite_runtime_2_14")
    if not check or check.get("skipped"):
        return "—"
    return "loads" if check.get("ok") else "fails (below)"


def parity_cell(row: dict) -> str:
    parity = row["parity"]
    if parity.get("passed") is None:
        return row["status"]
    rule = {"accuracy": "accuracy rule", "top1_agreement": "agreement rule"}.get(parity.get("decided_by"), "")
    agreement = parity.get("top1_agreement")
    return f"{'pass' if parity['passed'] else 'FAIL'} ({rule}; top-1 agr. {fmt(agreement, '.3f')})"


def model_summary(model: str, report: dict) -> dict:
    run_dir = Path(report["run_dir"])
    by_key = {(a["format"], a["precision"]): a for a in report["artifacts"]}
    rows = []
    for fmt_name in ("tflite", "onnx"):
        base = by_key.get((fmt_name, "float32")) if fmt_name == "onnx" else by_key.get(("tflite", "float32"))
        tflite_base = by_key.get(("tflite", "float32"))
        for precision in ROW_ORDER:
            artifact = by_key.get((fmt_name, precision))
            if artifact:
                rows.append(artifact_row(artifact, run_dir, tflite_base if fmt_name == "tflite" else tflite_base))
    train = next((s for s in report["stages"] if s["stage"] == "train"), None)
    train_info = (train or {}).get("info") or {}
    history = train_info.get("history") or {}
    plan_train = next((s for s in report["plan"]["stages"] if s["stage"] == "train"), {})
    return {"model": model, "run_dir": str(run_dir), "created": report["created"],
            "wall_seconds": report["wall_seconds"], "command": report.get("command"),
            "dataset": {k: report["dataset"].get(k) for k in ("name", "train", "val", "test", "input_shape",
                                                              "normalization")},
            "keras_accuracy_pct": 100 * report["keras"]["accuracy"] if report["keras"].get("accuracy") else None,
            "params": report["keras"].get("params"),
            "train": {"settings": {k: plan_train.get(k) for k in ("epochs", "batch_size", "learning_rate")},
                      "cached": (train or {}).get("cached"),
                      "seconds_per_epoch": train_info.get("seconds_per_epoch"),
                      "final_val_accuracy": (history.get("val_accuracy") or [None])[-1],
                      "bn_statistics": train_info.get("bn_statistics", {}).get("method")},
            "quantize_settings": next((s for s in report["plan"]["stages"] if s["stage"] == "quantize"), None),
            "rows": rows, "versions": report["versions"], "host": report["host"],
            "stage_seconds": {s["stage"]: s["seconds"] for s in report["stages"]}}


def model_markdown(summary: dict) -> list[str]:
    data = summary["dataset"]
    train = summary["train"]
    lines = [f"## {summary['model']}", "",
             f"{fmt(summary['params'], ',')} parameters; data {data['name']} ({data['train']:,} training, "
             f"{data['val']:,} validation, {data['test']:,} test images, input {data['input_shape']}, "
             f"normalisation {data['normalization']}). "
             + ("The model trained earlier in this session, loaded as a model file (train epochs 0; see the notes). "
                if train["settings"].get("epochs") == 0 else
                f"Train stage: {json.dumps(train['settings'])}, {fmt(train['seconds_per_epoch'], '.0f')} s/epoch, last "
                f"validation accuracy {fmt(train['final_val_accuracy'] and 100 * train['final_val_accuracy'], '.2f')}%. ")
             + 
             f"Keras model after the plan's stages: {fmt(summary['keras_accuracy_pct'], '.2f')}% on the test images. "
             f"Build wall time {summary['wall_seconds']:.0f} s, run {summary['created']}.", "",
             "| artifact | made by | status | accuracy % | Δ vs tflite fp32 (pt) | size kB | gzip kB | x smaller "
             "| p50 ms | x faster | parity with Keras | computes in (weights/activations, ops with weights) "
             "| weights left float | tflite-runtime 2.14 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        lines.append(
            f"| {r['artifact']} | {r['made_by']} | {r['status']} | {fmt(r['accuracy_pct'], '.2f')} "
            f"| {fmt(r['delta_vs_float32_pt'], '+.2f')} | {fmt(r['size_bytes'] and r['size_bytes'] / 1e3, ',.1f')} "
            f"| {fmt(r['gzip_bytes'] and r['gzip_bytes'] / 1e3, ',.1f')} | {fmt(r['size_ratio'], '.2f')} "
            f"| {fmt(r['p50_ms'], '.3f')} | {fmt(r['speedup'], '.2f')} | {parity_cell(r)} "
            f"| {r.get('computes_in', '—')} | {left_float_cell(r)} | {runtime_cell(r)} |")
    lines.append("")
    samples = {r["accuracy_samples"] for r in summary["rows"] if r.get("accuracy_samples")}
    lines.append(f"Accuracy through each file on {', '.join(f'{s:,}' for s in sorted(samples))} test images, one "
                 "image per invoke; x smaller / x faster against the TFLite float32 file (raw bytes, p50); "
                 "kB = 10^3 bytes. Parity: each file against the Keras model it came from on "
                 f"{max((r['parity'].get('samples') or 0) for r in summary['rows']):,} test images "
                 "(`edgecomp.exporters.parity`).")
    problems = [r for r in summary["rows"] if r["status"] != "ok"]
    for r in problems:
        lines.append(f"- **{r['artifact']}** {r['status']}: {r['error'] or r['parity'].get('reason')}")
    for r in summary["rows"]:
        check = r.get("tflite_runtime_2_14") or {}
        if check.get("ok") is False and not check.get("skipped"):
            lines.append(f"- {r['artifact']} does not load in tflite-runtime 2.14: {check.get('error')}")
    for r in summary["rows"]:
        if r.get("float_fallback_tensors"):
            lines.append(f"- {r['artifact']} keeps float: " + ", ".join(f"`{layer_label(t)}`"
                                                                        for t in r["float_fallback_tensors"]))
    for r in summary["rows"]:
        if r.get("auto"):
            artifact = {"name": r["artifact"], "quantizer": {"auto": r["auto"]}}
            lines += ["", f"`auto` search ({auto_steps_note(artifact)}):", "", markdown_table(auto_steps_table(artifact))]
    return lines + [""]


# The README's quantization figures are these blocks, made from results.json (tests/reporting/test_readme_table.py).
TABLE_START, TABLE_END = "<!-- quantization-results: benchmarks/quantization/run.py --render-only -->", \
    "<!-- /quantization-results -->"
FOUND_START, FOUND_END = "<!-- quantization-found -->", "<!-- /quantization-found -->"
README_RECIPES = [("int8", "`int8` (converter)"), ("int16x8", "`int16x8` (converter)"), ("a8w8", "`a8w8`"),
                  ("a16w8", "`a16w8`"), ("w4", "`w4`"), ("dynamic_w4", "`dynamic_w4`"), ("auto", "`auto`")]
MODEL_TITLES = {"teacher": "cnn-teacher, 28x28", "mobilenetv2_035": "MobileNetV2 0.35, 96x96",
                "mobilenetv3_small": "MobileNetV3-Small, 96x96"}


def _rows_by_precision(summary: dict) -> dict:
    return {r["precision"]: r for r in summary["rows"] if r["format"] == "tflite"}


def _readme_cell(row: dict | None) -> str:
    if row is None:
        return "not run (results.md says why)"
    if row["status"] == "failed":
        return "failed (results.md)"
    cell = (f"{fmt(row['delta_vs_float32_pt'], '+.2f')} pt, {fmt(row['size_ratio'], '.1f')}x smaller, "
            f"{fmt(row['speedup'], '.2f')}x speed")
    return cell + (" (parity failed)" if row["status"] == "parity_failed" else "")


def readme_table(results: dict) -> str:
    """The README's table: each recipe's accuracy change, size and speed against each model's float32 file."""
    models = results["models"]
    header = ["recipe", *[f"{MODEL_TITLES.get(m['model'], m['model'])}: float32 "
                          f"{fmt(_rows_by_precision(m).get('float32', {}).get('accuracy_pct'), '.2f')}%" for m in models]]
    lines = [TABLE_START, "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for precision, title in README_RECIPES:
        lines.append("| " + " | ".join([title, *[_readme_cell(_rows_by_precision(m).get(precision)) for m in models]])
                     + " |")
    created = max(m["created"] for m in models)[:10]
    samples = ", ".join(f"{_rows_by_precision(m).get('float32', {}).get('accuracy_samples') or 0:,} for "
                        f"{MODEL_TITLES.get(m['model'], m['model']).split(',')[0]}" for m in models)
    lines += ["", f"Measured {created} by `benchmarks/quantization/` on this repository's 2-core x86-64 host, "
              "1 thread, all files of a model in one build: accuracy change in points against the float32 "
              f"`.tflite` on the test images ({samples}), raw size ratio, "
              "p50 latency ratio (above 1: faster). The host is shared, so latencies are noisy; "
              "results.md has gzip sizes, parity, and what each file computes in and leaves float.", TABLE_END]
    return "\n".join(lines)


def readme_found(results: dict) -> str:
    """The 'What the benchmarks found' sentence on quantization, from the zoo teacher's row."""
    teacher = next(m for m in results["models"] if m["model"] == "teacher")
    rows = _rows_by_precision(teacher)

    def pt(p):
        return fmt((rows.get(p) or {}).get("delta_vs_float32_pt"), "+.2f")

    def slower(p):
        speed = (rows.get(p) or {}).get("speedup")
        return fmt(speed and 1 / speed, ".0f")

    dynamic = rows.get("dynamic") or {}
    runtime = dynamic.get("tflite_runtime_2_14") or {}
    runtime_text = ("; the dynamic-range file does not load in tflite-runtime 2.14"
                    if runtime.get("ok") is False and not runtime.get("skipped") else "")
    qat = f"QAT int8 {pt('qat_int8')} pt; " if "qat_int8" in rows else ""
    return (f"{FOUND_START}`benchmarks/quantization/`: on cnn-teacher int8 PTQ costs {pt('int8')} pt at "
            f"{fmt((rows.get('int8') or {}).get('size_ratio'), '.2f')}x smaller and "
            f"{fmt((rows.get('int8') or {}).get('speedup'), '.1f')}x faster; {qat}the quantizer's a8w8 "
            f"{pt('a8w8')} pt, a16w8 {pt('a16w8')} pt, w4 {pt('w4')} pt at "
            f"{fmt((rows.get('w4') or {}).get('size_ratio'), '.2f')}x smaller; int16x8 runs {slower('int16x8')}x and "
            f"a16w8 {slower('a16w8')}x slower than float32 (reference kernels){runtime_text}; the 96x96 MobileNets "
            f"are in the table under \"Google's AI Edge Quantizer\".{FOUND_END}")


def update_readme(results: dict) -> None:
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text()
    for start, end, block in [(TABLE_START, TABLE_END, readme_table(results)),
                              (FOUND_START, FOUND_END, readme_found(results))]:
        if start in readme and end in readme:
            readme = readme[:readme.index(start)] + block + readme[readme.index(end) + len(end):]
    readme_path.write_text(readme)


def render(summaries: list[dict], commands: list[str]) -> str:
    first = summaries[0]
    versions = ", ".join(f"{k} {v}" for k, v in first["versions"].items() if v)
    host = first["host"]
    notes = HERE / "notes.md"
    lines = ["# Quantization suite: the converter's recipes and the AI Edge Quantizer's, side by side", "",
             "Commands of this run (one build per model, plans in `run_plans/`: the models trained by this "
             "session's train stages, loaded as model files; see the notes), rendered by "
             "`python benchmarks/quantization/run.py --render-only --out /tmp/qb2`. "
             "`run.py --out DIR` runs the whole suite, training included (`plan.yaml`, `apps.py`):", "",
             *[f"    {c}" for c in commands], "",
             f"Run {min(s['created'] for s in summaries)} to {max(s['created'] for s in summaries)} (UTC), "
             f"code at the commit that adds this file's numbers.",
             f"Versions: {versions}.",
             f"Host: {host['cpu']}, {host['cores']} cores, {host.get('machine')}, CPU features "
             f"{', '.join(host.get('cpu_features') or [])}; {host.get('os')}. The host is shared with other "
             "engineers' jobs (load average 6 to 25 on 2 cores during this session, the three builds ran at once): "
             "latencies carry that noise; compare rows of one table (one build, one run), not tables.",
             "Latency: single image, 1 thread, LiteRT (ai-edge-litert) / onnxruntime on the host runner.", ""]
    for summary in summaries:
        lines += model_markdown(summary)
    if notes.is_file():
        lines += [notes.read_text().rstrip(), ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/edgecomp-bench-quantization"))
    parser.add_argument("--suite", choices=["all", "teacher", "apps"], default="all")
    parser.add_argument("--render-only", action="store_true", help="render from the reports under --out")
    parser.add_argument("--commands", nargs="*", help="with --render-only: the build commands to show")
    args = parser.parse_args()
    started = time.perf_counter()
    commands = (args.commands or []) if args.render_only else run_builds(args.out, args.suite)
    summaries = [model_summary(m, json.loads(report_path(args.out, m).read_text())) for m in MODELS
                 if report_path(args.out, m).is_file()]
    if not summaries:
        print(f"no report.json under {args.out}", file=sys.stderr)
        return 1
    (HERE / "results.md").write_text(render(summaries, commands))
    results = {"commands": commands, "render": "python benchmarks/quantization/run.py " + shlex.join(sys.argv[1:]),
               "models": summaries, "render_seconds": round(time.perf_counter() - started, 1)}
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    update_readme(results)
    print((HERE / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
