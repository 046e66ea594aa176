"""The end-of-command summary on stdout: the artifact table and where the reports are."""

from __future__ import annotations

import sys

from rich.console import Console

# Piped into a file or a CI log there is no terminal width to follow; 160 columns keep the
# fifteen-column table readable instead of wrapping every cell.
NON_TERMINAL_WIDTH = 160


def print_summary(report: dict) -> None:
    from edgecomp.report.terminal import render_table

    console = Console(highlight=False, width=None if sys.stdout.isatty() else NON_TERMINAL_WIDTH)
    render_table(report, console)
    console.print(f"reports: {report['run_dir']}/report.json, report.md, report.html")
