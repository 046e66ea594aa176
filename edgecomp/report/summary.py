"""The end-of-command summary on stdout: the artifact table and where the reports are."""

from __future__ import annotations

import sys

from rich.console import Console

# Piped into a file or a CI log there is no terminal width to follow: the width the default table
# is made for.
NON_TERMINAL_WIDTH = 100


def print_summary(report: dict, wide: bool = False) -> None:
    """The artifact table (every column with `wide`) and the report files' paths, on stdout."""
    from edgecomp.report.terminal import render_table

    console = Console(highlight=False, width=None if sys.stdout.isatty() else NON_TERMINAL_WIDTH)
    render_table(report, console, wide=wide)
    console.print(f"reports: {report['run_dir']}/report.json, report.md, report.html")
