"""The artifact table on the terminal (rich): the summary `build` and `bench` print at the end.

One row per artifact; a failed artifact is a row with its reason, never a missing row.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from edgecomp.emulation import emulated_note
from edgecomp.report import cells
from edgecomp.report.schema import STATUS_LEGEND
from edgecomp.report.tables import Table, artifact_table, ratio_note, timing_floor_note

STATUS_STYLES = {"ok": "green", "parity_failed": "yellow", "failed": "red"}


def rich_table(table: Table, title: str) -> RichTable:
    """A `Table` as a rich table; a row's note (an artifact's error) sits under the artifact's name."""
    rendered = RichTable(title=title, show_lines=False, header_style="bold")
    for column in table.columns:
        rendered.add_column(column.header, justify="right" if column.numeric else "left", overflow="fold",
                            no_wrap=column.no_wrap)
    for row, row_cells in zip(table.rows, table.cells):
        status_style = STATUS_STYLES.get(row.status, "")
        texts = []
        for column, cell in zip(table.columns, row_cells):
            text = Text(cell, style=status_style if column.shows_status else "")
            if column.shows_note and row.note:
                # The reason sits under the name so a failure reads as one row.
                text.append("\n" + row.note, style=STATUS_STYLES.get(row.status, "red"))
            texts.append(text)
        rendered.add_row(*texts)
    return rendered


def render_table(report: dict, console: Console) -> None:
    """Prints the artifact table, the status legend, the ratio meaning and the timing floor.

    Args:
        report: A report.json document (see `edgecomp.report.schema`).
        console: Where to print (the CLI passes its stderr console so `--json` stdout stays clean).
    """
    if not report.get("artifacts"):
        console.print("no artifacts in this report.")
        return
    title = (f"edgecomp: {(report.get('plan') or {}).get('name', 'report')} "
             f"on {(report.get('target') or {}).get('name', cells.DASH)}")
    if emulated_note(report):
        console.print(emulated_note(report), style="bold yellow", highlight=False)
    console.print(rich_table(artifact_table(report), title))
    legend = Text()
    for status, meaning in STATUS_LEGEND.items():
        legend.append(f"  {cells.status_label(status)}", style=STATUS_STYLES.get(status, ""))
        legend.append(f": {meaning}\n")
    console.print(legend, end="")
    console.print(ratio_note(), highlight=False)
    note = timing_floor_note(report)
    if note:
        console.print(note, highlight=False)
