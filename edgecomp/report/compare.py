"""Several runs side by side: one row per (run, artifact), dominated variants marked; md/csv/json/html.

Dominance is judged among the rows measured on the same target (a Raspberry Pi's latencies are not
comparable with the host's), on accuracy (up), size (down) and latency p50 (down) together.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Optional, Sequence

from edgecomp.emulation import is_emulated
from edgecomp.errors import EdgecompError
from edgecomp.report.pareto import JOINT_TRADEOFF, LATENCY_TRADEOFF, SIZE_TRADEOFF, dominated_by, objective_vector
from edgecomp.report.schema import SCHEMA_VERSION
from edgecomp.report.tables import artifact_values, compare_table


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
    if not isinstance(report, dict) or not isinstance(report.get("artifacts"), list):
        raise ReportError(f"{path} is not an edgecomp report (no 'artifacts' list); "
                          "re-run the build or bench that wrote it.")
    version = report.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ReportError(f"{path} has report schema version {version!r}; this edgecomp reads version "
                          f"{SCHEMA_VERSION}. Re-render it with the edgecomp that wrote it, or re-run it.")
    for index, artifact in enumerate(report["artifacts"]):
        if not isinstance(artifact, dict) or "name" not in artifact or "status" not in artifact:
            raise ReportError(f"{path}: artifact #{index} has no name or status; re-run the build that wrote it.")
    return report


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


# What a comparison row takes from each artifact (see `edgecomp.report.tables.artifact_values`).
ROW_ARTIFACT_KEYS = ["artifact", "status", "format", "precision", "size_bytes", "gzip_bytes", "accuracy", "p50_ms",
                     "p90_ms", "peak_rss_mb", "acc_per_mb", "acc_per_ms", "error"]


def compare_runs(reports: Sequence[dict], labels: Optional[Sequence[str]] = None) -> list[dict]:
    """One row per artifact of every run, with dominance marked across runs on the same target.

    Args:
        reports: report.json documents.
        labels: A name per run [its run folder's name; repeated names get #2, #3].

    Returns:
        Row dicts with run, plan, target, artifact, status, format, precision, size_bytes, gzip_bytes,
        accuracy, p50_ms, p90_ms, peak_rss_mb, acc_per_mb, acc_per_ms, error, and
        `dominated` (bool, or None when the row has no numbers): another variant on the same target is
        at least as accurate, small and fast, and better on one; `dominated_by` names it as
        "run/artifact"; `dominated_size` / `dominated_latency` do the same per two-way trade-off.
    """
    labels = _unique(list(labels) if labels is not None else [run_label(r) for r in reports])
    rows, points = [], []
    for label, report in zip(labels, reports):
        for artifact in report.get("artifacts") or []:
            values = artifact_values(artifact)
            rows.append({"run": label, "plan": (report.get("plan") or {}).get("name"),
                         "target": (report.get("target") or {}).get("name"),
                         **{key: values[key] for key in ROW_ARTIFACT_KEYS},
                         "emulated": is_emulated(artifact) or is_emulated(report)})
            points.append(artifact)
    # Emulated rows never share a group with a device's, even under the same target name.
    for group_key in dict.fromkeys((row["target"], row["emulated"]) for row in rows):
        members = [i for i, row in enumerate(rows) if (row["target"], row["emulated"]) == group_key]
        group = [{**points[i], "emulated": rows[i]["emulated"]} for i in members]
        for key, tradeoff in [("dominated", JOINT_TRADEOFF), ("dominated_size", SIZE_TRADEOFF),
                              ("dominated_latency", LATENCY_TRADEOFF)]:
            winners = dominated_by(group, **tradeoff)
            for local, index in enumerate(members):
                row, winner = rows[index], winners[local]
                placed = objective_vector(group[local], tradeoff["maximize"], tradeoff["minimize"]) is not None
                row[key] = (winner is not None) if placed else None
                if key == "dominated":
                    row["dominated_by"] = (f"{rows[members[winner]]['run']}/{rows[members[winner]]['artifact']}"
                                           if winner is not None else None)
    return rows


DOMINANCE_NOTE = ("A variant is dominated when another one measured on the same target is at least as accurate, "
                  "as small and as fast (p50), and better on one of them: it is never the one to deploy.")


def compare_markdown(rows: Sequence[dict]) -> str:
    """The comparison as a markdown table with the dominance note."""
    from edgecomp.report.markdown import markdown_table

    lines = ["# edgecomp: run comparison", "", markdown_table(compare_table(rows))]
    problems = [f"- `{row['run']}/{row['artifact']}`: {row['error']}" for row in rows if row.get("error")]
    lines += ["", DOMINANCE_NOTE + " MB = 10^6 bytes."]
    if problems:
        lines += ["", "## Problems", *problems]
    return "\n".join(lines) + "\n"


CSV_FIELDS = ["run", "plan", "target", "artifact", "status", "format", "precision", "size_bytes", "gzip_bytes",
              "accuracy", "p50_ms", "p90_ms", "peak_rss_mb", "acc_per_mb", "acc_per_ms", "emulated", "dominated", "dominated_by",
              "dominated_size", "dominated_latency", "error"]


def compare_csv(rows: Sequence[dict]) -> str:
    """The rows as CSV with raw numbers (bytes, fraction accuracy, ms); empty cells for missing values."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if row.get(key) is None else row[key] for key in CSV_FIELDS})
    return buffer.getvalue()


def compare_json(rows: Sequence[dict]) -> str:
    """The rows as a JSON document: {"schema_version", "rows": [...]}."""
    return json.dumps({"schema_version": SCHEMA_VERSION, "rows": list(rows)}, indent=2) + "\n"


def compare_html(rows: Sequence[dict]) -> str:
    """A self-contained comparison page: the table and accuracy vs size / latency across runs."""
    from html import escape

    from edgecomp.report.html import html_table, image, page
    from edgecomp.report.plots import tradeoff_png

    points = [{"name": f"{r['run']}/{r['artifact']}", "status": r["status"], "accuracy": r["accuracy"],
               "size_bytes": r["size_bytes"], "latency_ms": {"p50": r["p50_ms"]}, "emulated": r.get("emulated")}
              for r in rows]
    labels = [p["name"] for p in points]
    targets = sorted({str(r["target"]) for r in rows})
    body = ["<h1>edgecomp: run comparison</h1>", html_table(compare_table(rows)),
            f"<p class=\"meta\">{escape(DOMINANCE_NOTE)}</p>", "<h2>Plots</h2>"]
    for target in targets:
        members = [i for i, r in enumerate(rows) if str(r["target"]) == target]
        group, group_labels = [points[i] for i in members], [labels[i] for i in members]
        body.append(image(tradeoff_png(group, "size", group_labels, f"accuracy vs size ({target})"),
                          f"accuracy vs size on {target}"))
        body.append(image(tradeoff_png(group, "latency", group_labels, f"accuracy vs latency p50 ({target})"),
                          f"accuracy vs latency p50 on {target}"))
    return page("edgecomp: run comparison", body)
