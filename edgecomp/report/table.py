"""The artifact table on the terminal (rich), and the cells it shares with the HTML report.

One row per artifact; a failed artifact is a row with its reason, never a missing row.
"""

from __future__ import annotations

from typing import Optional

from rich.console import Console
from rich.table import Table
from rich.text import Text

from edgecomp.report import format as fmt
from edgecomp.report.schema import STATUS_LEGEND

STATUS_LABELS = {"ok": "ok", "parity_failed": "parity failed", "failed": "failed"}
STATUS_STYLES = {"ok": "green", "parity_failed": "yellow", "failed": "red"}

# (header, right-aligned?) in the order of `artifact_cells`.
COLUMNS = [
    ("artifact", False), ("status", False), ("format", False), ("precision", False),
    ("size", True), ("gzip", True), ("accuracy", True), ("p50 ms", True), ("p90 ms", True),
    ("peak MB", True), ("acc/MB", True), ("acc/ms", True),
    ("size vs fp32", True), ("latency vs fp32", True), ("acc vs fp32", True),
]


def status_label(status: Optional[str]) -> str:
    return STATUS_LABELS.get(status or "", status or fmt.DASH)


def text(value) -> str:
    """Any value as a cell: None -> the dash."""
    return fmt.DASH if value is None or value == "" else str(value)


def artifact_cells(artifact: dict) -> list[str]:
    """The table cells of one artifact, formatted; missing numbers become the dash.

    Args:
        artifact: One entry of report["artifacts"].

    Returns:
        Strings in `COLUMNS` order.
    """
    latency = artifact.get("latency_ms") or {}
    vs = artifact.get("vs_float32") or {}
    return [
        text(artifact.get("name")), status_label(artifact.get("status")), text(artifact.get("format")),
        text(artifact.get("precision")), fmt.size(artifact.get("size_bytes")), fmt.size(artifact.get("gzip_bytes")),
        fmt.percent(artifact.get("accuracy")), fmt.ms(latency.get("p50")), fmt.ms(latency.get("p90")),
        fmt.number(artifact.get("peak_rss_mb")), fmt.number(artifact.get("acc_per_mb")),
        fmt.number(artifact.get("acc_per_ms")),
        # Ratios are baseline / artifact: 4.00x means four times smaller (or faster) than float32.
        fmt.ratio(vs.get("size_ratio")), fmt.ratio(vs.get("latency_p50_ratio")), fmt.points(vs.get("accuracy_delta")),
    ]


def timing_floor_note(report: dict) -> Optional[str]:
    """One sentence on the runner's own timing floor, or None when the run did not measure it."""
    floor = report.get("timing_floor_ms") or {}
    if floor.get("p50") is None:
        return None
    return (f"Timing floor (the runner on a trivial model, same run): p50 {fmt.ms(floor['p50'])} ms; "
            "latencies close to it measure the runner more than the model.")


def ratio_note() -> str:
    return ("vs fp32: size and latency as float32 / artifact (2.00x = half the size or twice as fast), "
            "accuracy as the difference in percentage points. MB = 10^6 bytes.")


def build_table(report: dict) -> Table:
    """The rich Table of a report's artifacts (see `render_table`)."""
    table = Table(title=f"edgecomp: {(report.get('plan') or {}).get('name', 'report')} "
                        f"on {(report.get('target') or {}).get('name', fmt.DASH)}",
                  show_lines=False, header_style="bold")
    for index, (header, right) in enumerate(COLUMNS):
        # Name, status, format and precision never wrap: they are what a reader scans for.
        table.add_column(header, justify="right" if right else "left", overflow="fold", no_wrap=index < 4)
    for artifact in report.get("artifacts") or []:
        cells = artifact_cells(artifact)
        status = artifact.get("status")
        name = Text(cells[0])
        if artifact.get("error"):
            # The reason sits under the name so a failure reads as one row.
            name.append("\n" + str(artifact["error"]), style=STATUS_STYLES.get(status, "red"))
        row = [name, Text(cells[1], style=STATUS_STYLES.get(status, ""))] + [Text(c) for c in cells[2:]]
        table.add_row(*row)
    return table


def render_table(report: dict, console: Console) -> None:
    """Prints the artifact table, the status legend, the ratio meaning and the timing floor.

    Args:
        report: A report.json document (see `edgecomp.report.schema`).
        console: Where to print (the CLI passes its stderr console so `--json` stdout stays clean).
    """
    if not report.get("artifacts"):
        console.print("no artifacts in this report.")
        return
    console.print(build_table(report))
    legend = Text()
    for status, meaning in STATUS_LEGEND.items():
        legend.append(f"  {status_label(status)}", style=STATUS_STYLES.get(status, ""))
        legend.append(f": {meaning}\n")
    console.print(legend, end="")
    console.print(ratio_note(), highlight=False)
    note = timing_floor_note(report)
    if note:
        console.print(note, highlight=False)
