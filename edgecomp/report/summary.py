"""The end-of-command summary on the terminal: the artifact table and where the reports are."""

from __future__ import annotations

from edgecomp.progress import console


def print_summary(report: dict) -> None:
    from edgecomp.report.table import render_table

    render_table(report, console)
    console.print(f"reports: {report['run_dir']}/report.json, report.md, report.html")
