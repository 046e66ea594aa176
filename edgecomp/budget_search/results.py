"""The search report: every trial, the Pareto fronts with the budget drawn, and the best artifact.

Reads Ray Tune's results (each trial's last report, see `edgecomp.budget_search.trial`), writes
`search.json` (the source of truth) and `search.html` in the experiment folder, and copies the best
trial that meets the budget, with its model card and full build report, to `<experiment>/best/`.
"""

from __future__ import annotations

import json
import re
import shutil
from html import escape
from pathlib import Path
from typing import Optional

from edgecomp.budget_search.budget import Budget, trial_misses
from edgecomp.core.errors import BudgetNotMetError
from edgecomp.core.files import write_bytes_atomically
from edgecomp.reporting.html import image, page
from edgecomp.reporting.pareto import pareto_front
from edgecomp.reporting.plots import tradeoff_png

SEARCH_JSON, SEARCH_HTML, BEST_FOLDER = "search.json", "search.html", "best"
# Point-of-search keys shown as the trial's parameters (the rest are Ray's bookkeeping).
PARAM_KEYS = ("student", "width", "distill_method", "temperature", "alpha", "prune", "sparsity", "precision",
              "quantization")
METRIC_KEYS = ("accuracy", "size_kb", "gzip_kb", "latency_p50_ms", "memory_mb")
# A search on several targets: each trial's numbers are its worst case over them; these say per target.
TARGET_KEYS = ("slowest_target", "p50_by_target", "accuracy_by_target")


def _trial_id_from_folder(path: str) -> str:
    """Ray Tune's trial folder `run_trial_<id>_<n>_<params>_<date>` -> id (a trial that never reported)."""
    match = re.search(r"run_trial_([0-9a-f]+)_", Path(path).name)
    return match.group(1) if match else Path(path).name

def trial_rows(result_grid) -> list[dict]:
    """One row per trial: its parameters, status (done / stopped / failed / crashed) and measured numbers."""
    rows = []
    for result in result_grid:
        metrics = result.metrics or {}
        row = {"trial_id": metrics.get("trial_id") or _trial_id_from_folder(result.path),
               "params": {key: result.config[key] for key in PARAM_KEYS if key in (result.config or {})},
               "epochs_done": metrics.get("epochs_done", 0), "val_accuracy": metrics.get("val_accuracy")}
        if metrics.get("finished"):
            row["status"] = metrics.get("status", "done")
            for key in (*METRIC_KEYS, *TARGET_KEYS, "meets_budget", "missed", "artifact", "artifact_status", "run_dir",
                        "error", "score"):
                if key in metrics:
                    row[key] = metrics[key]
        elif result.error is not None:
            row.update(status="crashed", error=str(result.error).strip().splitlines()[-1][:400])
        else:
            row["status"] = "stopped"  # by ASHA, or by the time budget while it trained
        row.setdefault("meets_budget", False)
        rows.append(row)
    return sorted(rows, key=lambda r: r["trial_id"])

def judge_rows(rows: list[dict], budget: Budget) -> list[dict]:
    """Every measured trial judged against `budget` (a resumed search may be given another one)."""

    for row in rows:
        if row["status"] == "done":
            row["missed"] = trial_misses({key: row.get(key) for key in METRIC_KEYS}, budget,
                                         row.get("artifact_status", "ok"))
            row["meets_budget"] = not row["missed"]
    return rows

def _as_artifact(row: dict) -> dict:
    """A trial row in the shape `edgecomp.reporting.pareto` and `plots` read (a report.json artifact)."""
    done = row["status"] == "done"

    def kb(key: str):
        return None if row.get(key) is None else row[key] * 1e3

    return {"name": row["trial_id"], "status": "ok" if done else "failed", "accuracy": row.get("accuracy"),
            "size_bytes": kb("size_kb"), "gzip_bytes": kb("gzip_kb"),
            "latency_ms": {"p50": row.get("latency_p50_ms")}, "model_peak_mb": row.get("memory_mb")}

def fronts(rows: list[dict]) -> dict:
    """Trial ids on the Pareto front of accuracy vs size and of accuracy vs p50 latency."""

    points = [_as_artifact(row) for row in rows]
    return {name: [rows[i]["trial_id"] for i in pareto_front(points, ("accuracy",), (metric,))]
            for name, metric in (("size", "size"), ("latency", "latency"))}

def best_trial(rows: list[dict]) -> Optional[dict]:
    """The most accurate trial that meets the budget (the smaller file on a tie)."""
    fitting = [row for row in rows if row.get("meets_budget")]
    return max(fitting, key=lambda r: (r["accuracy"], -(r.get("size_kb") or 0)), default=None)

def closest_trials(rows: list[dict], count: int = 3) -> list[dict]:
    """Measured trials that miss the budget, the smallest total relative miss first."""
    measured = [row for row in rows if row["status"] == "done" and not row.get("meets_budget")]
    return sorted(measured, key=lambda r: sum((r.get("missed") or {}).values()))[:count]

def copy_best(best: dict, experiment: Path) -> Path:
    """The best trial's artifact, model card, labels and full build report into `<experiment>/best/`."""
    run_dir = Path(best["run_dir"])
    folder = experiment / BEST_FOLDER
    staging = experiment / f".{BEST_FOLDER}.partial"  # never a half-copied best/ that looks complete
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    artifact = run_dir / best["artifact"]
    shutil.copy2(artifact, staging / artifact.name)
    for extra in (artifact.with_name(artifact.name + ".json"), artifact.parent / "labels.txt"):  # model card
        if extra.is_file():
            shutil.copy2(extra, staging / extra.name)
    _copy_reports(run_dir, staging)
    combined = json.loads((run_dir / "report.json").read_text()) if (run_dir / "report.json").is_file() else {}
    if combined.get("kind") == "multi_target":  # a trial on several targets: each target's own report too
        for column in combined["targets"]:
            if column.get("report"):
                folder_name = Path(column["report"]).parent
                (staging / folder_name).mkdir()
                _copy_reports(run_dir / folder_name, staging / folder_name)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder

def _copy_reports(source: Path, destination: Path) -> None:
    for name in ("report.json", "report.md", "report.html"):
        if (source / name).is_file():
            shutil.copy2(source / name, destination / name)

def trials_plots(rows: list[dict], budget: Budget) -> dict[str, bytes]:
    """The two Pareto plots of the trials, with the budget drawn."""

    points = [_as_artifact(row) for row in rows]
    labels = [row["trial_id"] for row in rows]
    size_limit = None if budget.max_size_kb is None else budget.max_size_kb * 1e3
    accuracy_floor = None if budget.min_accuracy is None else budget.min_accuracy / 100  # the plots' fraction
    return {"Accuracy vs size (trials)": tradeoff_png(points, "size", labels, "trials: accuracy vs size",
                                                      size_limit, accuracy_floor),
            "Accuracy vs latency (trials)": tradeoff_png(points, "latency", labels, "trials: accuracy vs latency p50",
                                                         budget.max_latency_ms, accuracy_floor)}

def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items()) or "-"
    return str(value)

def render_html(summary: dict) -> str:
    """The search report as one self-contained page (plots embedded)."""
    return page("edgecomp search", ["<h1>edgecomp search</h1>", *summary_html(summary, summary.pop("_plots"))])

def summary_html(summary: dict, plots: dict[str, bytes]) -> list[str]:
    """The page's body: the budget and counts, the best trial, the Pareto fronts, the plots, every trial."""
    columns = ("trial_id", "status", "meets_budget", "accuracy", "size_kb", "gzip_kb", "latency_p50_ms", "memory_mb",
               "artifact_status", "epochs_done", "params", "missed", "error")
    if any(row.get("slowest_target") for row in summary["trials"]):  # several targets: say which decided
        columns = columns[:8] + ("slowest_target", "p50_by_target", "accuracy_by_target") + columns[8:]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(_cell(row.get(c)))}</td>" for c in columns) + "</tr>"
                   for row in summary["trials"])
    best = summary["best"]
    verdict = (f"Best: trial {escape(best['trial_id'])}, {100 * best['accuracy']:.2f} % "
               f"({escape(_cell(best['params']))}), copied to {escape(summary['best_folder'])}"
               if best else "No trial meets the budget.")
    return [
        f"<p class=\"meta\">budget: {escape(summary['budget_text'])}"
        + (f" on every target ({escape(', '.join(summary['targets']))}: each trial judged on its worst case over "
           "them, the slowest device's latency)" if len(summary.get("targets") or []) > 1 else "")
        + f"; {len(summary['trials'])} trial(s); {escape(summary['counts_text'])}</p>", f"<p>{verdict}</p>",
        f"<p>Pareto front (accuracy vs size): {escape(', '.join(summary['pareto']['size']) or '-')}; "
        f"(accuracy vs latency): {escape(', '.join(summary['pareto']['latency']) or '-')}</p>",
        *(image(png, title) for title, png in plots.items()),
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
    ]

def write_search_report(rows: list[dict], budget: Budget, experiment: Path, request_info: dict) -> dict:
    """Writes search.json and search.html, copies the best artifact; returns the summary.

    Raises:
        BudgetNotMetError: no trial meets the budget; the message names the closest trials.
    """
    rows = judge_rows(rows, budget)
    counts = {status: sum(1 for r in rows if r["status"] == status)
              for status in ("done", "stopped", "failed", "crashed")}
    best = best_trial(rows)
    summary = {"budget": budget.limits(), "budget_text": budget.describe(), "trials": rows, "counts": counts,
               "counts_text": ", ".join(f"{n} {status}" for status, n in counts.items()), "pareto": fronts(rows),
               "best": best, "best_folder": str(experiment / BEST_FOLDER) if best else None,
               "closest": [] if best else [r["trial_id"] for r in closest_trials(rows)], **request_info}
    if best:
        copy_best(best, experiment)
    write_bytes_atomically(experiment / SEARCH_JSON, json.dumps(summary, indent=2, default=str).encode())
    summary["_plots"] = trials_plots(rows, budget)
    write_bytes_atomically(experiment / SEARCH_HTML, render_html(summary).encode())
    if best is None:
        raise BudgetNotMetError(no_fit_message(rows, budget, experiment))
    return summary

def no_fit_message(rows: list[dict], budget: Budget, experiment: Path) -> str:
    closest = closest_trials(rows)
    shown = "; ".join(
        f"trial {r['trial_id']}: {100 * (r.get('accuracy') or 0):.2f} %, {_cell(r.get('size_kb'))} kB, "
        f"p50 {_cell(r.get('latency_p50_ms'))} ms (misses {', '.join(r['missed'])})" for r in closest)
    return (f"no trial meets the budget ({budget.describe()}); closest: {shown or 'none measured'}. "
            f"Loosen the budget or widen the plan's search: section; every trial is in {experiment / SEARCH_HTML}.")
