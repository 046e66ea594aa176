"""The end-of-command summary on stdout: the artifact table and where the reports are."""

from __future__ import annotations

import sys

from rich.console import Console

from edgecomp.reporting.terminal import render_table

# Piped into a file or a CI log there is no terminal width to follow: the width the default table
# is made for.
NON_TERMINAL_WIDTH = 100


def print_summary(report: dict, wide: bool = False) -> None:
    """The artifact table (every column with `wide`) and the report files' paths, on stdout."""
    from rich.markup import escape

    console = Console(highlight=False, width=None if sys.stdout.isatty() else NON_TERMINAL_WIDTH)
    render_table(report, console, wide=wide)
    for warning in report.get("warnings") or []:  # repeated under the table: the run's output scrolls them away
        console.print(f"[yellow]warning ({warning['code']}): {escape(warning['message'])}[/yellow]")
    console.print(f"reports: {report['run_dir']}/report.json, report.md, report.html")
