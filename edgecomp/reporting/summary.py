"""The end-of-command summary on stdout: the artifact table (or a column group per target) and where the
reports are."""

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


def print_multi_target_summary(combined: dict) -> None:
    """Several targets (`edgecomp.reporting.multi_target`): the column group per device, its legend, the
    file to ship on every target, every failure and missed gate, and where the reports are, on stdout."""
    from edgecomp.reporting.multi_target import LEGEND, every_target_legend, failures, multi_target_table
    from edgecomp.reporting.terminal import rich_table

    console = Console(highlight=False, width=None if sys.stdout.isatty() else NON_TERMINAL_WIDTH)
    console.print(rich_table(multi_target_table(combined),
                             f"edgecomp: {combined.get('run', 'bench')} on {len(combined['targets'])} targets"))
    for line in (LEGEND, every_target_legend(combined), *failures(combined), *combined.get("gate_violations", [])):
        if line:
            console.print(line, soft_wrap=True, markup=False)
    console.print(f"reports: {combined.get('run_dir', '.')}/report.json, report.md (each target's own in its folder)",
                  markup=False)
