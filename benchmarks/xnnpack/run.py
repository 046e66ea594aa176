"""XNNPACK on and off, side by side: what LiteRT's default CPU delegate does to float32 and int8 latency.

The default chain's student architecture (cnn-assistant, 61k parameters) is trained for two epochs
on 6,000 Fashion-MNIST images (seed 0; enough for int8 calibration to be realistic, accuracy is
not the point), exported to a float32 and an int8 `.tflite` (PTQ, float I/O, calibrated on 500
training images; weights dense, unlike the default build's pruned float32 file), and each file is
run by edgecomp's runner with XNNPACK on (LiteRT's default) and off (`--no-xnnpack`: the builtin
kernels). The four configurations are interleaved, round after round, so a busy spell of this
shared machine hits all of them; each row is the median over rounds of the runner's p50, with the
rounds' range beside it. One thread; accuracy on 1,000 test images checks both paths compute the
same model.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/xnnpack/run.py [--out DIR] [--rounds 5] [--render-only]
(--render-only rewrites results.md from the committed results.json, measuring nothing.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

PRECISIONS = ["float32", "int8"]
RUNNER_SETTINGS = ["--threads", "1", "--warmup", "20", "--min-runs", "200", "--min-time", "2.0"]


def export_files(out: Path, data) -> dict[str, Path]:
    from edgecomp.compress.bn_stats import reestimate_bn_statistics
    from edgecomp.compress.fitting import fit
    from edgecomp.core.tfenv import seed_everything
    from edgecomp.exporters.tflite import keras_to_tflite
    from edgecomp.models.zoo import build_zoo_model

    seed_everything(0)
    model = build_zoo_model("cnn-assistant", data.input_shape, data.num_classes)
    fit(model, data, epochs=2, batch_size=32, learning_rate=2e-3, label="cnn-assistant")
    reestimate_bn_statistics(model, data)
    calibration = data.images("train", 500)
    return {precision: keras_to_tflite(model, out / f"cnn-assistant_{precision}.tflite", precision,
                                       calibration_images=calibration) for precision in PRECISIONS}


def run_runner(path: Path, sample: Path, out: Path, xnnpack: bool) -> dict:
    from edgecomp.targets.base import RUNNER_PATH

    command = [sys.executable, str(RUNNER_PATH), str(path), "--sample", str(sample), "--out", str(out)]
    command += RUNNER_SETTINGS + ([] if xnnpack else ["--no-xnnpack"])
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
    return json.loads(out.read_text())


def measure(files: dict[str, Path], sample: Path, out: Path, rounds: int) -> list[dict]:
    """One row per (precision, xnnpack): every round's p50, run interleaved with the other rows."""
    configs = [(precision, xnnpack) for precision in PRECISIONS for xnnpack in (True, False)]
    p50s = {config: [] for config in configs}
    last = {}
    for round_index in range(rounds):
        for precision, xnnpack in configs:
            result = run_runner(files[precision], sample, out / f"{precision}_{xnnpack}_{round_index}.json", xnnpack)
            assert result["xnnpack"] is xnnpack, result["xnnpack"]
            p50s[(precision, xnnpack)].append(result["latency_ms"]["p50"])
            last[(precision, xnnpack)] = result
    return [{"precision": precision, "xnnpack": xnnpack, "size_bytes": files[precision].stat().st_size,
             "p50_ms_median": statistics.median(p50s[(precision, xnnpack)]),
             "p50_ms_rounds": p50s[(precision, xnnpack)], "accuracy": last[(precision, xnnpack)]["accuracy"],
             "accuracy_samples": last[(precision, xnnpack)]["accuracy_samples"],
             "runtime": last[(precision, xnnpack)]["runtime"]} for precision, xnnpack in configs]


def render(rows: list[dict], facts: dict, command: str) -> str:
    host = facts["host"]
    lines = ["# XNNPACK on and off, the same files side by side", "",
             (f"Command: `{command}` ({facts['created']}, {facts['seconds']} s). Host: {host['cpu']}, "
              f"{host['cores']} cores, CPU features: {', '.join(host['cpu_features'])}. "
              f"Runtime: {rows[0]['runtime']['name']} {rows[0]['runtime']['version']}. Load average (1 min) "
              f"{facts['load_before']:.1f} before, {facts['load_after']:.1f} after: the machine is shared."), "",
             ("cnn-assistant (61k parameters, dense weights), two epochs on 6,000 images; one thread; "
              f"p50 of each runner call, median over {facts['rounds']} interleaved rounds, and the rounds' range."), "",
             "| file | XNNPACK | p50 ms (median) | p50 ms over rounds | accuracy (1,000 test images) |",
             "|---|---|---|---|---|"]
    for row in rows:
        rounds = row["p50_ms_rounds"]
        lines.append(f"| cnn-assistant_{row['precision']}.tflite | {'on' if row['xnnpack'] else 'off'} "
                     f"| {row['p50_ms_median']:.3f} | {min(rounds):.3f}-{max(rounds):.3f} "
                     f"| {100 * row['accuracy']:.2f}% |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "xnnpack-benchmark")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args()
    if args.render_only:
        results = json.loads((HERE / "results.json").read_text())
        (HERE / "results.md").write_text(render(results["rows"], results, results["command"]))
        return 0
    from edgecomp.data.dataset import load_dataset
    from edgecomp.run.artifacts import write_sample
    from edgecomp.targets.host import host_facts

    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    data = load_dataset("fashion_mnist", train_limit=6000, test_limit=1000, seed=0)
    files = export_files(args.out, data)
    sample = write_sample(data, args.out / "sample.npz", limit=1000)
    load_before = os.getloadavg()[0]
    rows = measure(files, sample, args.out, args.rounds)
    facts = {"created": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()), "host": host_facts(),
             "rounds": args.rounds, "load_before": load_before, "load_after": os.getloadavg()[0],
             "seconds": round(time.perf_counter() - started, 1)}
    command = "python benchmarks/xnnpack/run.py" + ("" if args.rounds == 5 else f" --rounds {args.rounds}")
    md = render(rows, facts, command)
    (HERE / "results.md").write_text(md)
    (HERE / "results.json").write_text(json.dumps({"command": command, **facts, "rows": rows}, indent=2) + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
