"""The report's tables as data: columns and rows, computed once from a report.json document.

A `Table` is a list of `Column`s (header, how to format a cell, alignment) and its `Row`s; the
terminal (`report.terminal`), markdown (`report.markdown`) and HTML (`report.html`) renderers
only lay the cells out. Changing what a table shows is an edit of its column list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Optional

from edgecomp.report import cells

# A stage's settings and results shown in one cell, cut at this many characters.
STAGE_DETAILS_CHARS = 300


@dataclass(frozen=True)
class Column:
    """One column: its header and how a row's values become its cell."""

    header: str
    cell: Callable[[dict], str]
    numeric: bool = False  # right-aligned
    no_wrap: bool = False  # never wrapped on the terminal: what a reader scans for
    shows_status: bool = False  # the cell is coloured by the row's status
    shows_note: bool = False  # the row's note (an artifact's error) goes under this cell


def value(key: str, header: str, formatter: Callable[[object], str] = cells.text, **options) -> Column:
    """A column showing `formatter(row[key])`; a missing key is a missing value (the dash)."""
    return Column(header, lambda row: formatter(row.get(key)), **options)


@dataclass(frozen=True)
class Row:
    """One row's values, and what a renderer may show around its cells."""

    values: dict
    status: str = ""  # "ok" | "parity_failed" | "failed" | "" (no status)
    note: Optional[str] = None  # an artifact's error: under the `shows_note` cell where the format allows
    classes: tuple[str, ...] = ()  # extra marks for the HTML row (e.g. "dominated")


@dataclass
class Table:
    """Columns and rows; `cells` are formatted once, when the table is made."""

    columns: list[Column]
    rows: list[Row]
    cells: list[list[str]] = field(init=False)

    def __post_init__(self) -> None:
        self.cells = [[column.cell(row.values) for column in self.columns] for row in self.rows]

    @property
    def header(self) -> list[str]:
        return [column.header for column in self.columns]


# ---- artifacts (the main table; also the comparison of several runs) --------------------------

def artifact_values(artifact: dict) -> dict:
    """The raw values the artifact columns show, from one report.json artifact entry."""
    latency = artifact.get("latency_ms") or {}
    vs = artifact.get("vs_float32") or {}
    return {
        "artifact": artifact.get("name"), "status": artifact.get("status"), "format": artifact.get("format"),
        "precision": artifact.get("precision"), "size_bytes": artifact.get("size_bytes"),
        "gzip_bytes": artifact.get("gzip_bytes"), "accuracy": artifact.get("accuracy"),
        "p50_ms": latency.get("p50"), "p90_ms": latency.get("p90"), "peak_rss_mb": artifact.get("peak_rss_mb"),
        "acc_per_mb": artifact.get("acc_per_mb"), "acc_per_ms": artifact.get("acc_per_ms"),
        # Ratios are baseline / artifact: 4.00x means four times smaller (or faster) than float32.
        "size_ratio": vs.get("size_ratio"), "latency_p50_ratio": vs.get("latency_p50_ratio"),
        "accuracy_delta": vs.get("accuracy_delta"), "error": artifact.get("error"),
    }


ARTIFACT = value("artifact", "artifact", no_wrap=True, shows_note=True)
STATUS = value("status", "status", cells.status_label, no_wrap=True, shows_status=True)
FORMAT = value("format", "format", no_wrap=True)
PRECISION = value("precision", "precision", no_wrap=True)
SIZE = value("size_bytes", "size", cells.size, numeric=True)
GZIP = value("gzip_bytes", "gzip", cells.size, numeric=True)
ACCURACY = value("accuracy", "accuracy", cells.percent, numeric=True)
P50 = value("p50_ms", "p50 ms", cells.ms, numeric=True)
P90 = value("p90_ms", "p90 ms", cells.ms, numeric=True)
PEAK_MB = value("peak_rss_mb", "peak MB", cells.number, numeric=True)
ACC_PER_MB = value("acc_per_mb", "acc/MB", cells.number, numeric=True)
ACC_PER_MS = value("acc_per_ms", "acc/ms", cells.number, numeric=True)
SIZE_VS_FP32 = value("size_ratio", "size vs fp32", cells.ratio, numeric=True)
LATENCY_VS_FP32 = value("latency_p50_ratio", "latency vs fp32", cells.ratio, numeric=True)
ACCURACY_VS_FP32 = value("accuracy_delta", "acc vs fp32", cells.points, numeric=True)

ARTIFACT_COLUMNS = [ARTIFACT, STATUS, FORMAT, PRECISION, SIZE, GZIP, ACCURACY, P50, P90, PEAK_MB, ACC_PER_MB,
                    ACC_PER_MS, SIZE_VS_FP32, LATENCY_VS_FP32, ACCURACY_VS_FP32]


def artifact_table(report: dict, columns: Optional[list[Column]] = None) -> Table:
    """One row per artifact; a failed one keeps its row, with its reason as the row's note."""
    rows = [Row(artifact_values(a), status=str(a.get("status") or ""), note=a.get("error"))
            for a in report.get("artifacts") or []]
    return Table(columns or ARTIFACT_COLUMNS, rows)


def artifact_cells(artifact: dict) -> list[str]:
    """The artifact table's cells of one artifact, in `ARTIFACT_COLUMNS` order."""
    return [column.cell(artifact_values(artifact)) for column in ARTIFACT_COLUMNS]


def timing_floor_note(report: dict) -> Optional[str]:
    """One sentence on the runner's own timing floor, or None when the run did not measure it."""
    floor = report.get("timing_floor_ms") or {}
    if floor.get("p50") is None:
        return None
    return (f"Timing floor (the runner on a trivial model, same run): p50 {cells.ms(floor['p50'])} ms; "
            "latencies close to it measure the runner more than the model.")


def ratio_note() -> str:
    return ("vs fp32: size and latency as float32 / artifact (2.00x = half the size or twice as fast), "
            "accuracy as the difference in percentage points. MB = 10^6 bytes.")


def _dominance(row: dict) -> str:
    if row.get("dominated") is None:
        return cells.DASH
    return str(row["dominated_by"]) if row["dominated"] else "not dominated"


def _target(row: dict) -> str:
    return cells.text(row.get("target")) + (" (emulated)" if row.get("emulated") else "")


COMPARE_COLUMNS = [value("run", "run"), Column("target", _target), ARTIFACT, STATUS, PRECISION, SIZE, ACCURACY,
                   P50, P90, PEAK_MB, ACC_PER_MB, ACC_PER_MS, Column("dominated by", _dominance)]


def compare_table(rows: list[dict]) -> Table:
    """The comparison rows of `edgecomp.report.compare.compare_runs`, dominated ones marked."""
    return Table(COMPARE_COLUMNS, [Row(row, status=str(row.get("status") or ""), note=row.get("error"),
                                       classes=("dominated",) if row.get("dominated") else ())
                                   for row in rows])


# ---- an emulated board's accuracy against the host's (edgecomp.adapters.emulated) ---------------

def _points(delta: Optional[float]) -> str:
    return cells.DASH if delta is None else f"{delta:+.2f} pt"


CROSS_CHECK_COLUMNS = [
    value("name", "artifact"), Column("runtime on the board", lambda a: _measured_with(a.get("runtime"))),
    value("accuracy", "board accuracy", cells.percent, numeric=True),
    value("host_accuracy", "host accuracy", cells.percent, numeric=True),
    Column("board - host", lambda a: a.get("host_error") or _points(a.get("accuracy_vs_host_points")), numeric=True),
]


def cross_check_table(report: dict) -> Table:
    """Per benchmarked artifact of an emulated run: the board's and the host's accuracy (same file,
    runtime and images); no rows for a report from a real device."""
    from edgecomp.emulation import is_emulated

    rows = [Row(a) for a in report.get("artifacts") or []
            if is_emulated(report) and (a.get("accuracy") is not None or a.get("host_error"))]
    return Table(CROSS_CHECK_COLUMNS, rows)


# ---- parity, deployment checks, stages --------------------------------------------------------

PARITY_COLUMNS = [
    ARTIFACT, value("top1_agreement", "top-1 agreement", lambda v: cells.number(v, 4), numeric=True),
    value("max_abs_diff", "max |diff|", cells.number, numeric=True),
    value("mean_abs_diff", "mean |diff|", cells.number, numeric=True),
    value("passed", "passed", lambda passed: "yes" if passed else "NO"),
]


def parity_table(report: dict) -> Table:
    """Each checked artifact's agreement with the Keras model it came from."""
    return Table(PARITY_COLUMNS, [Row({"artifact": a.get("name"), **a["parity"]})
                                  for a in report.get("artifacts") or [] if a.get("parity")])


def _runtime_check(check: Optional[dict]) -> str:
    if not check:
        return cells.DASH
    if check.get("skipped"):
        return "not checked: " + str(check.get("error") or "")
    return "yes" if check.get("ok") else "NO: " + str(check.get("error") or "")


def _measured_with(runtime: Optional[dict]) -> str:
    return f"{runtime.get('name')} {runtime.get('version')}" if runtime else cells.DASH


# What an app developer needs to know before shipping each file: sparsity really in the file,
# loads in tflite-runtime 2.14, the runtime it was measured with, its model card.
DEPLOYMENT_COLUMNS = [
    value("name", "artifact"),
    Column("zeros in file", lambda a: cells.percent((a.get("sparsity") or {}).get("overall"))),
    value("tflite_runtime_2_14", "loads in tflite-runtime 2.14", _runtime_check),
    value("runtime", "measured with", _measured_with),
    value("model_card", "model card"),
]


def deployment_table(report: dict) -> Table:
    return Table(DEPLOYMENT_COLUMNS, [Row(a) for a in report.get("artifacts") or []])


def _details(info: Optional[dict]) -> str:
    # The training history is a plot's data, not a detail.
    return json.dumps({k: v for k, v in (info or {}).items() if k != "history"})[:STAGE_DETAILS_CHARS]


STAGE_COLUMNS = [
    value("stage", "stage"),
    value("seconds", "seconds", lambda s: cells.DASH if s is None else f"{s:.1f}", numeric=True),
    value("info", "details", _details),
]


def stage_table(report: dict) -> Table:
    return Table(STAGE_COLUMNS, [Row(stage) for stage in report.get("stages") or []])
