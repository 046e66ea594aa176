"""Several runs side by side: one row per (run, artifact), dominated variants marked; md/csv/json/html/table.

Rows are grouped by what their numbers were measured on: the target (a Raspberry Pi's latencies are
not comparable with the host's), the test set and the number of accuracy samples (92.1% on 1,000
images is not 92.0% on 10,000). Dominance, on accuracy (up), size (down) and latency p50 (down)
together, is judged only within a group, and every format flags a comparison of several groups.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Optional, Sequence

from edgecomp.core.emulation import is_emulated
from edgecomp.core.errors import EdgecompError
from edgecomp.measure.metrics import EFFICIENCY_NOTE
from edgecomp.reporting.html import html_table, image, page
from edgecomp.reporting.markdown import markdown_table
from edgecomp.reporting.pareto import JOINT_TRADEOFF, LATENCY_TRADEOFF, SIZE_TRADEOFF, dominated_by, objective_vector
from edgecomp.reporting.plots import tradeoff_png
from edgecomp.reporting.recommend import MARK, recommended_of
from edgecomp.reporting.schema import READABLE_VERSIONS, SCHEMA_VERSION, upgrade
from edgecomp.reporting.tables import PROCESS_MEMORY_NOTE, artifact_values, compare_table


class ReportError(EdgecompError):
    """A report.json that is missing, unreadable or not a report."""

def load_report(run_dir: Path) -> dict:
    """Reads RUN_DIR/report.json (or the report.json path itself) and checks it is a report.

    Raises:
        ReportError: The file is missing, is not JSON, or lacks the report's structure.
    """
    run_dir = Path(run_dir)
    path = run_dir if run_dir.suffix == ".json" else run_dir / "report.json"
    if not path.is_file():
        hint = "" if run_dir.exists() else f" ({run_dir} does not exist)"
        raise ReportError(f"no report at {path}{hint}; pass a run folder written by `edgecomp build` "
                          "or `edgecomp bench`.")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReportError(f"{path} is not readable JSON ({err}); re-run the build or bench that wrote it.") from None
    if isinstance(report, dict) and report.get("kind") == "multi_target":
        folders = [str(Path(t["report"]).parent) for t in report.get("targets") or [] if t.get("report")]
        raise ReportError(f"{path} gathers a {report.get('run', 'run')} on several targets; its report.md is the "
                          "side-by-side view. Pass one target's folder to re-render or compare it: "
                          + (", ".join(str(path.parent / folder) for folder in folders) or "none finished") + ".")
    if not isinstance(report, dict) or not isinstance(report.get("artifacts"), list):
        raise ReportError(f"{path} is not an edgecomp report (no 'artifacts' list); "
                          "re-run the build or bench that wrote it.")
    version = report.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise ReportError(f"{path} has report schema version {version!r}; this edgecomp reads versions "
                          f"{', '.join(map(str, READABLE_VERSIONS))}. Re-render it with the edgecomp that wrote "
                          "it, or re-run it.")
    for index, artifact in enumerate(report["artifacts"]):
        if not isinstance(artifact, dict) or "name" not in artifact or "status" not in artifact:
            raise ReportError(f"{path}: artifact #{index} has no name or status; re-run the build that wrote it.")
    return upgrade(report)

def run_label(report: dict) -> str:
    """The run folder's name, else the plan's name."""
    run_dir = report.get("run_dir")
    return Path(run_dir).name if run_dir else str((report.get("plan") or {}).get("name", "run"))

def _unique(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return unique

# What a comparison row takes from each artifact (see `edgecomp.reporting.tables.artifact_values`).
ROW_ARTIFACT_KEYS = ["artifact", "status", "format", "precision", "size_bytes", "gzip_bytes", "accuracy",
                     "accuracy_samples", "p50_ms", "p90_ms", "model_memory_mb", "memory_is_process", "acc_per_mb",
                     "acc_per_gzip_mb", "acc_per_ms", "error"]

def measured_on(report: dict, artifact: dict) -> tuple:
    """What a row's numbers are comparable under: (target, dataset, source, test split size, accuracy samples).

    Accuracies on different test sets or sample counts, and latencies on different targets, are not
    comparable. A failed artifact has no sample count and takes its run's.
    """
    dataset = report.get("dataset") or {}
    samples = artifact.get("accuracy_samples")
    if samples is None:
        samples = next((a.get("accuracy_samples") for a in report.get("artifacts") or []
                        if a.get("accuracy_samples") is not None), dataset.get("test"))
    return ((report.get("target") or {}).get("name"), dataset.get("name"), dataset.get("source"), dataset.get("test"),
            samples)

def describe_group(key: tuple) -> str:
    """A comparability key in words: "host, fashion_mnist (10,000 test images, /path), accuracy on 10,000"."""
    target, name, source, test, samples, emulated = key
    count = (lambda n: "?" if n is None else f"{n:,}")
    return (f"target {target}{' (emulated)' if emulated else ''}, {name} ({count(test)} test images from {source}), "
            f"accuracy on {count(samples)} images")

def _group_label(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else f"G{index + 1}"

def compare_runs(reports: Sequence[dict], labels: Optional[Sequence[str]] = None) -> list[dict]:
    """One row per artifact of every run, dominance marked only among rows measured alike.

    Rows are grouped by `measured_on` (target, test set, accuracy sample count); a variant is only
    ever dominated by one of its own group.

    Args:
        reports: report.json documents.
        labels: A name per run [its run folder's name; repeated names get #2, #3].

    Returns:
        Row dicts with run, plan, target, the `ROW_ARTIFACT_KEYS`, `group` ("A", "B", ...: rows of one
        letter are comparable), `measured_on` (the group in words), `recommended` (the run's artifact to
        ship), and `dominated` (bool, or None when the row has no numbers): another variant of the same
        group is at least as accurate, small and fast, and better on one; `dominated_by` names it as
        "run/artifact"; `dominated_size` / `dominated_latency` do the same per two-way trade-off.
    """

    labels = _unique(list(labels) if labels is not None else [run_label(r) for r in reports])
    rows, points, keys = [], [], []
    for label, report in zip(labels, reports):
        picked = recommended_of(report).get("name")
        for artifact in report.get("artifacts") or []:
            values = artifact_values(artifact)
            rows.append({"run": label, "plan": (report.get("plan") or {}).get("name"),
                         "target": (report.get("target") or {}).get("name"),
                         **{key: values[key] for key in ROW_ARTIFACT_KEYS},
                         "recommended": picked is not None and artifact.get("name") == picked,
                         "emulated": is_emulated(artifact) or is_emulated(report)})
            points.append(artifact)
            # Emulated rows never share a group with a device's, even under the same target name.
            keys.append(measured_on(report, artifact) + (rows[-1]["emulated"],))
    groups = list(dict.fromkeys(keys))
    for row, key in zip(rows, keys):
        row["group"], row["measured_on"] = _group_label(groups.index(key)), describe_group(key)
    for key in groups:
        members = [i for i, other in enumerate(keys) if other == key]
        group = [{**points[i], "emulated": rows[i]["emulated"]} for i in members]
        for field, tradeoff in [("dominated", JOINT_TRADEOFF), ("dominated_size", SIZE_TRADEOFF),
                                ("dominated_latency", LATENCY_TRADEOFF)]:
            winners = dominated_by(group, **tradeoff)
            for local, index in enumerate(members):
                row, winner = rows[index], winners[local]
                placed = objective_vector(group[local], tradeoff["maximize"], tradeoff["minimize"]) is not None
                row[field] = (winner is not None) if placed else None
                if field == "dominated":
                    row["dominated_by"] = (f"{rows[members[winner]]['run']}/{rows[members[winner]]['artifact']}"
                                           if winner is not None else None)
    return rows

DOMINANCE_NOTE = ("A variant is dominated when another one measured alike (same target, test set and accuracy "
                  "sample count) is at least as accurate, as small and as fast (p50), and better on one of "
                  "them: it is never the one to deploy.")

def compare_notes(rows: Sequence[dict]) -> list[str]:
    """The sentences under a comparison table: dominance, the mark, the figures, an older report's memory."""
    notes = [f"{DOMINANCE_NOTE} {MARK}: each run's artifact to ship (see its report).", EFFICIENCY_NOTE]
    if any(row.get("memory_is_process") for row in rows):
        notes.append(PROCESS_MEMORY_NOTE)
    return notes

def groups_note(rows: Sequence[dict]) -> Optional[str]:
    """The warning shown when the rows were not all measured alike, naming each group; else None."""
    groups = dict.fromkeys((row["group"], row["measured_on"]) for row in rows)
    if len(groups) < 2:
        return None
    listed = "; ".join(f"{label} = {words}" for label, words in groups)
    return (f"NOT ALL COMPARABLE: these runs were measured on different targets, test sets or accuracy sample "
            f"counts ({listed}). Compare rows within one group only; dominance is judged within a group.")

def compare_markdown(rows: Sequence[dict]) -> str:
    """The comparison as a markdown table with the dominance note."""

    warning = groups_note(rows)
    lines = ["# edgecomp: run comparison", "", *([f"**{warning}**", ""] if warning else []),
             markdown_table(compare_table(rows))]
    problems = [f"- `{row['run']}/{row['artifact']}`: {row['error']}" for row in rows if row.get("error")]
    for note in compare_notes(rows):
        lines += ["", note]
    if problems:
        lines += ["", "## Problems", *problems]
    return "\n".join(lines) + "\n"

CSV_FIELDS = ["run", "plan", "target", "group", "measured_on", "artifact", "recommended", "status", "format",
              "precision", "size_bytes", "gzip_bytes", "accuracy", "accuracy_samples", "p50_ms", "p90_ms",
              "model_memory_mb", "memory_is_process", "acc_per_mb", "acc_per_gzip_mb", "acc_per_ms", "emulated",
              "dominated", "dominated_by", "dominated_size", "dominated_latency", "error"]

def compare_csv(rows: Sequence[dict]) -> str:
    """The rows as CSV with raw numbers (bytes, fraction accuracy, ms); empty cells for missing values."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if row.get(key) is None else row[key] for key in CSV_FIELDS})
    return buffer.getvalue()

def compare_json(rows: Sequence[dict]) -> str:
    """The rows as a JSON document: {"schema_version", "comparable", "groups", "warning", "rows": [...]}.

    `comparable` is false when the rows were measured on different targets, test sets or sample counts;
    `groups` maps each group letter to what it was measured on.
    """
    groups = {row["group"]: row["measured_on"] for row in rows}
    return json.dumps({"schema_version": SCHEMA_VERSION, "comparable": len(groups) < 2, "groups": groups,
                       "warning": groups_note(rows), "rows": list(rows)}, indent=2) + "\n"

def compare_html(rows: Sequence[dict]) -> str:
    """A self-contained comparison page: the table and accuracy vs size / latency across runs."""
    from html import escape

    points = [{"name": f"{r['run']}/{r['artifact']}", "status": r["status"], "accuracy": r["accuracy"],
               "size_bytes": r["size_bytes"], "latency_ms": {"p50": r["p50_ms"]}, "emulated": r.get("emulated")}
              for r in rows]
    labels = [p["name"] for p in points]
    targets = sorted({str(r["target"]) for r in rows})  # plots per target; the table's groups say what compares
    warning = groups_note(rows)
    body = ["<h1>edgecomp: run comparison</h1>", *([f"<p><b>{escape(warning)}</b></p>"] if warning else []),
            html_table(compare_table(rows)),
            *[f"<p class=\"meta\">{escape(note)}</p>" for note in compare_notes(rows)], "<h2>Plots</h2>"]
    for target in targets:
        members = [i for i, r in enumerate(rows) if str(r["target"]) == target]
        group, group_labels = [points[i] for i in members], [labels[i] for i in members]
        body.append(image(tradeoff_png(group, "size", group_labels, f"accuracy vs size ({target})"),
                          f"accuracy vs size on {target}"))
        body.append(image(tradeoff_png(group, "latency", group_labels, f"accuracy vs latency p50 ({target})"),
                          f"accuracy vs latency p50 on {target}"))
    return page("edgecomp: run comparison", body)
