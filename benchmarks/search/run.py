#!/usr/bin/env python3
"""`edgecomp search` on the zoo teacher: the front found in 30 minutes against the default chain, and
wall time of the same trials on 1 and 2 Ray workers.

    .venv/bin/python benchmarks/search/run.py                 # the full benchmark (about 30 + 2x~15 + 10 min)
    .venv/bin/python benchmarks/search/run.py --smoke         # minutes: tiny data and models, prints only
    .venv/bin/python benchmarks/search/run.py --render-only   # results.md again from results.json + notes.md

Part 1 (front): one search with `--time-budget 30m --workers 2` over students cnn-assistant,
cnn-student and cnn-tiny, whose first trial is the default chain itself (`start_points`; KD into
cnn-assistant 8 epochs, global pruning 0.5 for 2, QAT int8 for 2), so both are measured in the same
run on the same machine; as a start point it is never stopped early. Budget: the default chain's file size as benchmarks/default_chain measured it
(so the searcher looks for more accuracy at that size or less). Goal (issue 12): a trial at least
as accurate and at least 1.5x smaller, or as small and at least 0.5 point more accurate.

Part 2 (workers): the same fixed trials (`start_points`, early stopping off) with --workers 1 and
--workers 2. Each timed run starts from its own copy of the cache as an untimed warm-up trial left
it (the teacher and its logits, and no stage of the timed trials), so the wall times compare the
trials alone and the second run cannot reuse the first one's stages.

Part 3 (probe): the front space's likeliest winners, run to their end (early stopping off, the
front's epochs): cnn-assistant without pruning (as small as the default chain, without pruning's
loss) and with 30% structured pruning (aimed at 1.5x smaller). They answer whether the space holds an
artifact that meets the goal, where the front's early stopping may have cut one short. With the
front's `--cache-dir` they reuse its teacher and the default chain's distill stage.

Every search uses the cache folder `--cache-dir` (default: a new one, so the teacher is trained
once, untimed). Running one `--part` keeps the other parts' results from results.json; each part
records its own command, date and commit.

Writes results.md / results.json beside this file (not with --smoke).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

DEFAULT_CHAIN_POINT = {"student": "cnn-assistant", "distill_method": "kd", "temperature": 4.0, "alpha": 0.9,
                       "prune": "global", "sparsity": 0.5, "precision": "int8", "quantization": "qat"}
FIXED_POINTS = [  # part 2: four trials, each a different chain
    {"student": "cnn-student", "distill_method": "kd", "temperature": 4.0, "alpha": 0.9, "prune": "none",
     "precision": "int8", "quantization": "ptq"},
    {"student": "cnn-tiny", "distill_method": "kd", "temperature": 4.0, "alpha": 0.9, "prune": "global",
     "sparsity": 0.5, "precision": "float16", "quantization": "ptq"},
    {"student": "cnn-student", "distill_method": "kd", "temperature": 2.0, "alpha": 0.7, "prune": "structured",
     "structured_sparsity": 0.25, "precision": "int8", "quantization": "qat"},
    {"student": "cnn-tiny", "distill_method": "kd", "temperature": 6.0, "alpha": 0.5, "prune": "none",
     "precision": "dynamic", "quantization": "ptq"},
]

WARM_UP_POINT = {**FIXED_POINTS[0], "alpha": 0.8}  # not a timed trial: none of them finds its stages cached
PROBE_POINTS = [  # part 3: the default chain's distillation, then the two ways it could meet the goal
    {**DEFAULT_CHAIN_POINT, "prune": "none"},  # as small (unstructured zeros do not shrink the raw file)
    {**{k: v for k, v in DEFAULT_CHAIN_POINT.items() if k != "sparsity"}, "prune": "structured",
     "structured_sparsity": 0.3},  # aimed at 1.5x smaller; measured 1.36x (the first conv and classifier stay whole)
]
PARTS = ("front", "workers", "probe")


def full_settings() -> dict:
    return {"plan": {"name": "search-bench", "model": "cnn-teacher"},
            "front_space": {"students": ["cnn-assistant", "cnn-student", "cnn-tiny"], "epochs": 8, "prune_epochs": 2,
                            "qat_epochs": 2, "start_points": [DEFAULT_CHAIN_POINT]},
            "time_budget": "30m", "front_trials": 200,
            "workers_space": {"epochs": 2, "prune_epochs": 1, "qat_epochs": 1, "early_stopping": False},
            "probe_space": {"students": ["cnn-assistant"], "epochs": 8, "prune_epochs": 2, "qat_epochs": 2,
                            "early_stopping": False, "start_points": PROBE_POINTS}}


def smoke_settings() -> dict:
    tiny_chain = {**DEFAULT_CHAIN_POINT, "student": "cnn-tiny"}
    return {"plan": {"name": "search-smoke", "model": "cnn-student", "dataset": {"train_limit": 1000, "test_limit": 300},
                     "stages": [{"stage": "train", "epochs": 1, "batch_size": 64}],
                     "bench": {"warmup": 2, "min_runs": 20, "min_time_s": 0.05, "accuracy_samples": 300}},
            "front_space": {"students": ["cnn-tiny"], "epochs": 1, "prune_epochs": 0, "qat_epochs": 1,
                            "start_points": [tiny_chain]},
            "time_budget": "4m", "front_trials": 2,
            "workers_space": {"epochs": 1, "prune_epochs": 0, "qat_epochs": 1, "early_stopping": False},
            "probe_space": {"students": ["cnn-tiny"], "epochs": 1, "prune_epochs": 1, "qat_epochs": 1,
                            "early_stopping": False, "start_points": [{**p, "student": "cnn-tiny"} for p in PROBE_POINTS]},
            "fixed_points": [{**p, "student": "cnn-tiny"} for p in FIXED_POINTS[:2]],
            "warm_up_point": {**WARM_UP_POINT, "student": "cnn-tiny"}}


def search(folder: Path, name: str, plan: dict, space: dict, *args: str, cache: Path) -> tuple[dict, float, int]:
    """Runs `edgecomp search` with the stage cache in `cache`; returns its search.json, its wall
    seconds and its exit code."""
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**plan, "search": space}, sort_keys=False))
    command = [sys.executable, "-c", "from edgecomp.cli.main import run; run()", "search", "--config", str(path),
               "--out", str(folder / name), *args]
    started = time.perf_counter()
    code = subprocess.run(command, cwd=ROOT, env={**os.environ, "EDGECOMP_CACHE_DIR": str(cache)}).returncode
    seconds = time.perf_counter() - started
    summary_path = folder / name / "search.json"
    return (json.loads(summary_path.read_text()) if summary_path.is_file() else {}), seconds, code


def environment() -> dict:
    """The host and the package versions this run used, recorded beside its numbers."""
    import platform
    from importlib.metadata import version

    # --dirty: a run from a checkout with local edits says so
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], check=False, cwd=ROOT, capture_output=True,
                            text=True)
    return {"host": {"machine": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()},
            "versions": {name: version(name) for name in ("edgecomp", "tensorflow", "ray", "optuna")},
            "commit": commit.stdout.strip() or None}


def chain_size_kb() -> str:
    """The default chain's (fast preset) qat_int8 file size in kB from benchmarks/default_chain/results.json."""
    rows = json.loads((ROOT / "benchmarks" / "default_chain" / "results.json").read_text())["rows"]
    size = next(r["size_bytes"] for r in rows if r["plan"] == "default-chain fast" and r["artifact"] == "model_qat_int8.tflite")
    return f"{size / 1e3:.3f}"


def meets_goal(trial: dict, chain: dict) -> bool:
    """At least as accurate and 1.5x smaller than the default chain, or as small and 0.5 point more accurate."""
    return ((trial["accuracy"] >= chain["accuracy"] and trial["size_kb"] * 1.5 <= chain["size_kb"])
            or (trial["size_kb"] <= chain["size_kb"] and trial["accuracy"] >= chain["accuracy"] + 0.005))


def compare_front(summary: dict, chain_point: dict) -> dict:
    """The default chain's trial, the front, and whether the goal is met (with the trial that meets it)."""
    done = [r for r in summary.get("trials", []) if r["status"] == "done"]
    chain = next((r for r in done if all(r["params"].get(k) == v for k, v in chain_point.items()
                                         if k in r["params"])), None)
    if chain is None:
        return {"chain": None, "goal_met": None, "note": "the default-chain trial did not finish"}
    winner = max((r for r in done if meets_goal(r, chain)), key=lambda r: r["accuracy"], default=None)
    front = [r for r in done if r["trial_id"] in summary["pareto"]["size"]]
    # every trial in brief (search.json goes with the temporary folder): which were stopped, and when
    every = [{key: r.get(key) for key in ("trial_id", "status", "epochs_done", "val_accuracy", "accuracy", "params")}
             for r in summary["trials"]]
    return {"chain": chain, "front": front, "goal_met": winner is not None, "winner": winner,
            "trials": len(summary["trials"]), "counts": summary.get("counts"), "every_trial": every}


def render(results: dict) -> str:
    def row(r: dict) -> str:
        return (f"| {r['trial_id']} | {100 * r['accuracy']:.2f}% | {r['size_kb']:.1f} | {r['gzip_kb']:.1f} | "
                f"{r['latency_p50_ms']:.4f} | {json.dumps(r['params'])} |")

    def measured(part: dict) -> list[str]:
        run = part.get("run")
        if not run:
            return []
        env = run["environment"]
        versions = ", ".join(f"{name} {v}" for name, v in env.get("versions", {}).items())
        return [f"Measured by `{run['command']}` on {run['created']} at commit {env.get('commit')}; {versions}; "
                f"{env.get('host', {}).get('cores')} cores.", ""]

    front = results["front"]
    lines = ["# edgecomp search vs the default chain", "", f"## Front found in {results['time_budget']}"
             + (f" ({front['trials']} trials: {front.get('counts')})" if front.get("trials") else ""), ""]
    lines += measured(front)
    if front.get("recovered_from"):
        lines += [f"Recovered from {front['recovered_from']}.", ""]
    if front.get("chain"):
        lines += ["| trial | accuracy | kB | gzip kB | p50 ms | params |", "|---|---|---|---|---|---|",
                  row(front["chain"]) + " (default chain)"]
        lines += [row(r) for r in front["front"] if r["trial_id"] != front["chain"]["trial_id"]]
        verdict = (f"Goal met by trial {front['winner']['trial_id']}." if front["goal_met"] else
                   "Goal not met: no trial is as accurate and 1.5x smaller, or as small and 0.5 point more accurate.")
        lines += ["", verdict]
    else:
        lines += [front.get("note", "Not measured: run `--part front`.")]
    probe = results.get("probe") or {}
    if probe.get("trials"):
        chain = front.get("chain")
        lines += ["", "## The space's likeliest winners, run to their end", ""] + measured(probe)
        lines += ["| trial | accuracy | kB | gzip kB | p50 ms | params | meets the goal |", "|---|---|---|---|---|---|---|"]
        lines += [row(r) + (f" {'yes' if meets_goal(r, chain) else 'no'} |" if chain else " — |")
                  for r in probe["trials"]]
    workers = results["workers"]
    lines += ["", "## Same trials on 1 and 2 Ray workers", ""] + measured(workers)
    if workers.get("seconds"):
        lines += [f"{workers['trials']} fixed trials, early stopping off, each run from its own copy of the warmed "
                  f"cache: 1 worker {workers['seconds'][1]:.0f} s, 2 workers {workers['seconds'][2]:.0f} s "
                  f"(speed-up {workers['seconds'][1] / workers['seconds'][2]:.2f}x)."]
    else:
        lines += [f"Not measured: {workers.get('not_measured', 'run `--part workers`')}"]
    notes = HERE / "notes.md"  # hand-written reading of the numbers, kept beside them
    if notes.is_file():
        lines += ["", notes.read_text().rstrip()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny data and models; print, write nothing here")
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all")
    parser.add_argument("--render-only", action="store_true", help="rewrite results.md from results.json")
    parser.add_argument("--cache-dir", type=Path, help="stage cache for every search (default: a new folder)")
    args = parser.parse_args()
    previous = HERE / "results.json"
    if args.render_only:
        (HERE / "results.md").write_text(render(read_results(previous)))
        return
    settings = smoke_settings() if args.smoke else full_settings()
    fixed_points = settings.get("fixed_points", FIXED_POINTS)
    command = "python benchmarks/search/run.py" + (" --smoke" if args.smoke else "") + (
        f" --part {args.part}" if args.part != "all" else "") + (f" --cache-dir {args.cache_dir}" if args.cache_dir else "")
    run = {"command": command, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "environment": environment()}
    parts = PARTS if args.part == "all" else (args.part,)
    results = {"time_budget": settings["time_budget"], "front": {}, "workers": {"trials": len(fixed_points), "seconds": {}},
               "probe": {}}
    if args.part != "all" and not args.smoke and previous.is_file():
        kept = read_results(previous)
        results.update({part: kept.get(part) or {} for part in PARTS if part not in parts})
    with tempfile.TemporaryDirectory(prefix="search-bench-") as tmp:
        folder = Path(tmp)
        cache = args.cache_dir or folder / "cache"
        if "front" in parts:
            chain_point = settings["front_space"]["start_points"][0]
            budget = [] if args.smoke else ["--max-size-kb", chain_size_kb()]
            summary, _, _ = search(folder, "front", settings["plan"], settings["front_space"], "--workers", "2",
                                   "--trials", str(settings["front_trials"]), "--time-budget", settings["time_budget"],
                                   *budget, cache=cache)
            results["front"] = {**compare_front(summary, chain_point), "run": run}
        if "probe" in parts:
            space = settings["probe_space"]
            summary, _, _ = search(folder, "probe", settings["plan"], space, "--workers", "2",
                                   "--trials", str(len(space["start_points"])), cache=cache)
            results["probe"] = {"trials": [r for r in summary.get("trials", []) if r["status"] == "done"],
                                "counts": summary.get("counts"), "run": run}
        if "workers" in parts:
            space = {**settings["workers_space"], "start_points": fixed_points}
            warm_up = settings.get("warm_up_point", WARM_UP_POINT)
            search(folder, "warm-up", settings["plan"], {**space, "start_points": [warm_up]}, "--trials", "1",
                   cache=cache)  # untimed: the teacher and its logits into the cache
            for workers in (1, 2):
                own_cache = folder / f"cache-{workers}-workers"
                shutil.copytree(cache / "stages", own_cache / "stages")
                _, seconds, _ = search(folder, f"workers-{workers}", settings["plan"], space, "--workers", str(workers),
                                       "--trials", str(len(fixed_points)), cache=own_cache)
                results["workers"]["seconds"][workers] = seconds
            results["workers"]["run"] = run
    text = render(results)
    print(text)
    if not args.smoke:
        (HERE / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
        (HERE / "results.md").write_text(text)


def read_results(path: Path) -> dict:
    """results.json; a file from before per-part records gets its top-level run record on each part."""
    results = json.loads(path.read_text())
    old_run = {"command": results.get("command"), "created": results.get("created"),
               "environment": results.get("environment", {})}
    for part in PARTS:
        results.setdefault(part, {})
        if results[part] and "run" not in results[part] and old_run["command"]:
            results[part]["run"] = old_run
    workers = results["workers"]
    workers["seconds"] = {int(k): v for k, v in workers.get("seconds", {}).items()}  # JSON keys are strings
    return results


if __name__ == "__main__":
    main()
