"""`edgecomp report`: re-render one run's report, or compare several runs, from their report.json.

Registered by the main app as `app.command("report")(report_command)`. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from edgecomp.cli.common import WIDE_OPTION, err_console, handle_errors, shared_options


class ReportFormat(str, Enum):
    table = "table"
    md = "md"
    html = "html"
    csv = "csv"
    json = "json"


def render_terminal(reports: list[dict], labels: list[str], wide: bool) -> str:
    """The terminal table of one run (as `build` prints it) or of a comparison, as text for stdout."""
    import io
    import shutil

    from rich.console import Console

    from edgecomp.reporting.terminal import render_comparison, render_table

    # A terminal's own width; piped, the width the default table is made for.
    console = Console(highlight=False, width=shutil.get_terminal_size((100, 24)).columns, record=True,
                      file=io.StringIO(), color_system=None)
    if len(reports) == 1:
        render_table(reports[0], console, wide=wide)
    else:
        from edgecomp.reporting.compare import compare_runs

        render_comparison(compare_runs(reports, labels), console, wide=wide)
    return console.export_text()


def render_one(report: dict, report_format: ReportFormat) -> str:
    """One run's report in the given format (html excluded: it is written, see `report_command`)."""
    import json

    from edgecomp.reporting.compare import compare_csv, compare_runs

    if report_format is ReportFormat.md:
        from edgecomp.reporting.markdown import render_markdown

        return render_markdown(report)
    if report_format is ReportFormat.csv:
        return compare_csv(compare_runs([report]))
    return json.dumps(report, indent=2) + "\n"


def render_many(reports: list[dict], labels: list[str], report_format: ReportFormat) -> str:
    """Several runs side by side in the given format."""
    from edgecomp.reporting import compare

    rows = compare.compare_runs(reports, labels)
    renderers = {ReportFormat.md: compare.compare_markdown, ReportFormat.csv: compare.compare_csv,
                 ReportFormat.json: compare.compare_json, ReportFormat.html: compare.compare_html}
    return renderers[report_format](rows)


def _gate_violations(reports: list[dict], labels: list[str], gates: dict) -> list[str]:
    from edgecomp.reporting.gates import check_gates

    violations = []
    for label, report in zip(labels, reports):
        found = check_gates(report, **gates)
        violations += [f"{label}: {line}" for line in found] if len(reports) > 1 else found
    return violations


@handle_errors
@shared_options
def report_command(
    run_dirs: list[Path] = typer.Argument(..., help="Run folder(s) holding report.json; two or more are compared."),
    report_format: ReportFormat = typer.Option(
        ReportFormat.md, "--format", "-f", help="Output format (table: the terminal table `build` prints)."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="File to write (default: stdout; for the html of one run, RUN_DIR/report.html)."),
    gates: dict = None,  # --max-size-mb, --max-latency-ms, --min-accuracy, --gate-scope (cli.common)
    wide: bool = WIDE_OPTION,
) -> None:
    """Re-render a run's report (md, html, csv, json), or compare several runs; optionally check gates."""
    from edgecomp.core.errors import QualityGateError, UsageError
    from edgecomp.core.files import write_bytes_atomically
    from edgecomp.reporting.compare import load_report, run_label
    from edgecomp.reporting.gates import Gates
    from edgecomp.reporting.html import write_html

    checked = Gates(gates["max_size_mb"], gates["max_latency_ms"], gates["min_accuracy"], gates["gate_scope"])
    if wide and report_format is not ReportFormat.table:
        raise UsageError(f"--wide is for --format table; the {report_format.value} output always has every field.")
    reports = [load_report(run_dir) for run_dir in run_dirs]
    # The folder as the user named it labels the run; report.json's run_dir may be another machine's path.
    labels = [path.parent.name if path.suffix == ".json" else path.name for path in run_dirs]
    labels = [label or run_label(report) for label, report in zip(labels, reports)]

    if len(reports) == 1 and report_format is ReportFormat.html:
        run_dir = run_dirs[0].parent if run_dirs[0].suffix == ".json" else run_dirs[0]
        written = write_html(reports[0], output or run_dir / "report.html")
        err_console.print(f"wrote {written}")
    else:
        if report_format is ReportFormat.html and output is None:
            raise UsageError("a comparison page needs a file: add --output comparison.html.")
        if report_format is ReportFormat.table:
            content = render_terminal(reports, labels, wide)
        elif len(reports) == 1:
            content = render_one(reports[0], report_format)
        else:
            content = render_many(reports, labels, report_format)
        if output is None:
            typer.echo(content, nl=False)
        else:
            err_console.print(f"wrote {write_bytes_atomically(output, content.encode('utf-8'))}")

    violations = _gate_violations(reports, labels, checked.record())
    if violations:
        raise QualityGateError(f"{len(violations)} quality gate miss(es) (scope {checked.scope}): "
                               + "; ".join(violations) + ".")


app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
app.command("report")(report_command)
