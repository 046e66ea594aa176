"""The artifact table on the terminal (rich): the summary `build` and `bench` print at the end.

One row per artifact; a failed artifact is a row with its reason, never a missing row. The default
table has the columns a reader scans for (`TERMINAL_COLUMNS`) and fits 100 terminal columns (80 too):
numbers never wrap, headers wrap at a space, artifact names and notes fold. `wide=True` shows every
column, as report.md does, at its natural width.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.segment import Segment, Segments
from rich.table import Table as RichTable
from rich.text import Text

from edgecomp.core.emulation import emulated_note
from edgecomp.reporting import cells
from edgecomp.reporting.compare import compare_notes, groups_note
from edgecomp.reporting.schema import STATUS_LEGEND
from edgecomp.reporting.tables import (
    ARTIFACT_COLUMNS,
    COMPARE_COLUMNS,
    COMPARE_TERMINAL_COLUMNS,
    TERMINAL_COLUMNS,
    Column,
    Table,
    artifact_table,
    compare_table,
    table_notes,
)

STATUS_STYLES = {"ok": "green", "parity_failed": "yellow", "failed": "red"}
# A text column (the artifact's name) keeps at least this many characters before it folds.
TEXT_MIN_WIDTH = 10
GAP = 3  # between two columns: the padding either side and the (blank) rule
# A note (a failed artifact's reason) in a name column narrower than this would wrap a word or two
# per line: it is printed under the table instead, at the terminal's width.
NOTE_MIN_WIDTH = 40


def _natural(table: Table, index: int, column: Column) -> tuple[int, int]:
    """(width with the header on one line, width with the header wrapped at its spaces) of a column."""
    widest = max([max(len(line) for line in row[index].split("\n")) for row in table.cells] + [1])
    return max(widest, len(column.header)), max([widest] + [len(word) for word in column.header.split()])

def column_widths(table: Table, width: int | None) -> list[int]:
    """Each column's content width so that the table fits `width` characters (None: natural widths).

    Never-wrapped columns (numbers) get their widest cell; their headers wrap at a space only when
    that lets the text columns (artifact names) be whole; text columns share what is left.
    """
    natural = [_natural(table, i, c) for i, c in enumerate(table.columns)]
    widths = [one_line for one_line, _ in natural]
    if width is None:
        return widths
    fixed = [i for i, c in enumerate(table.columns) if c.no_wrap]
    flexible = [i for i in range(len(widths)) if i not in fixed]
    available = width - GAP * (len(widths) - 1)
    # Wrap the headers that save the most first, until the text columns have their whole width
    # (artifact names on one line), or at least their minimum.
    text_wanted = sum(max(TEXT_MIN_WIDTH, widths[i]) for i in flexible)
    for i in sorted(fixed, key=lambda i: natural[i][1] - natural[i][0]):
        if sum(widths[j] for j in fixed) + text_wanted <= available:
            break
        widths[i] = natural[i][1]
    left = available - sum(widths[j] for j in fixed)
    for n, i in enumerate(flexible):
        share = max(TEXT_MIN_WIDTH, left // (len(flexible) - n))
        widths[i] = min(widths[i], share)
        left -= widths[i]
    return widths

def rich_table(table: Table, title: str, width: int | None = None, footnotes: list | None = None) -> RichTable:
    """A `Table` as a rich table; a row's note (an artifact's error) sits under the artifact's name.

    Args:
        table: The rows and columns.
        title: Shown above the table.
        width: Characters the table must fit (see `column_widths`) [None: every column at its natural width].
        footnotes: When given and the name column is narrower than `NOTE_MIN_WIDTH` (an 80-column
            terminal), a note is replaced by `see (n)` and `(n, name, status, note)` appended
            here, for the caller to print under the table at the terminal's width.

    When the table has no status column, the name carries the row's status colour and a row that is
    not ok says its status at the start of its note.
    """
    rendered = RichTable(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    widths = column_widths(table, width)
    note_widths = [w for column, w in zip(table.columns, widths) if column.shows_note]
    notes_below = footnotes is not None and width is not None and bool(note_widths) and note_widths[0] < NOTE_MIN_WIDTH
    for column, column_width in zip(table.columns, widths):
        rendered.add_column(Text(column.header, no_wrap=False, overflow="fold"), justify="right" if column.numeric else "left",
                            overflow="fold", no_wrap=column.no_wrap, width=column_width)
    status_shown = any(column.shows_status for column in table.columns)
    for row, row_cells in zip(table.rows, table.cells):
        status_style = STATUS_STYLES.get(row.status, "")
        note = row.note
        if note and not status_shown and row.status not in ("ok", ""):
            note = f"{cells.status_label(row.status)}: {note}"
        if note and notes_below:
            footnotes.append((len(footnotes) + 1, row_cells[[c.shows_note for c in table.columns].index(True)],
                              row.status, note))
            note = f"see ({len(footnotes)})"
        texts = []
        for column, cell in zip(table.columns, row_cells):
            coloured = column.shows_status or (column.shows_note and not status_shown)
            text = Text(cell, style=status_style if coloured else "")
            if column.shows_note and note:
                # The reason sits under the name so a failure reads as one row.
                text.append("\n" + note, style=STATUS_STYLES.get(row.status, "red"))
            texts.append(text)
        rendered.add_row(*texts)
    return rendered

def _print_table(console: Console, table: Table, title: str, wide: bool) -> None:
    footnotes: list = []
    rendered = rich_table(table, title, None if wide else console.width, footnotes)
    if not wide:
        console.print(rendered)
        for number, name, status, note in footnotes:  # whole lines, not a word per line in a narrow column
            console.print(Text(f"({number}) {name.strip()}: {note}", style=STATUS_STYLES.get(status, "red")))
        return
    # Laid out at its natural width, printed line by line uncropped: the terminal wraps the lines.
    natural = sum(column_widths(table, None)) + GAP * (len(table.columns) - 1)
    for line in console.render_lines(rendered, console.options.update_width(max(console.width, natural)), pad=False):
        console.print(Segments([*line, Segment.line()]), crop=False, soft_wrap=True, end="")

def render_comparison(rows: list[dict], console: Console, wide: bool = False) -> None:
    """Prints the comparison of several runs (`edgecomp.reporting.compare.compare_runs`) and its notes.

    A comparison of rows measured on different targets, test sets or sample counts starts with a warning.
    """

    warning = groups_note(rows)
    if warning:
        console.print(warning, style="bold yellow", highlight=False)
    _print_table(console, compare_table(rows, COMPARE_COLUMNS if wide else COMPARE_TERMINAL_COLUMNS),
                 "edgecomp: run comparison", wide)
    for note in compare_notes(rows):
        console.print(note, highlight=False)

def render_table(report: dict, console: Console, wide: bool = False) -> None:
    """Prints the artifact table, the status legend, which artifact to ship and the notes.

    Args:
        report: A report.json document (see `edgecomp.reporting.schema`).
        console: Where to print (the CLI passes its stderr console so `--json` stdout stays clean).
        wide: Every column (as report.md) at its natural width, wider than the terminal if need be
            (the terminal wraps the lines; cells stay whole), instead of the eight that fit its width.
    """
    if not report.get("artifacts"):
        console.print("no artifacts in this report.")
        return
    title = (f"edgecomp: {(report.get('plan') or {}).get('name', 'report')} "
             f"on {(report.get('target') or {}).get('name', cells.DASH)}")
    if emulated_note(report):
        console.print(emulated_note(report), style="bold yellow", highlight=False)
    _print_table(console, artifact_table(report, ARTIFACT_COLUMNS if wide else TERMINAL_COLUMNS), title, wide)
    legend = Text()
    for status, meaning in STATUS_LEGEND.items():
        legend.append(f"  {cells.status_label(status)}", style=STATUS_STYLES.get(status, ""))
        legend.append(f": {meaning}\n")
    console.print(legend, end="")
    for note in table_notes(report):
        console.print(note, highlight=False)
