"""The report's tables as data: columns and rows, computed once from a report.json document.

A `Table` is a list of `Column`s (header, how to format a cell, alignment) and its `Row`s; the
terminal (`report.terminal`), markdown (`report.markdown`) and HTML (`report.html`) renderers
only lay the cells out. Changing what a table shows is an edit of its column list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Optional

from edgecomp.core.emulation import is_emulated
from edgecomp.measure.metrics import EFFICIENCY_NOTE
from edgecomp.reporting import cells
from edgecomp.reporting.recommend import MARK, recommended_of
from edgecomp.reporting.recommend import legend as recommend_legend

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

# Marks a memory figure that is the runner process's peak (reports written before the model's own
# footprint was measured), not the model's: the legend says so whenever it appears.
PROCESS_MEMORY_MARK = "†"
PROCESS_MEMORY_NOTE = (f"{PROCESS_MEMORY_MARK} the runner process's peak RSS: this report predates the model's "
                       "own memory (model_peak_mb), so the figure includes the runner and its test images.")

def model_memory(artifact: dict) -> tuple[Optional[float], bool]:
    """The model's own peak memory in MB, and whether it is only the process peak of an older report.

    `model_peak_mb` (the runner's peak minus its RSS before the model was loaded) when the report
    has it; else `peak_rss_mb`, the whole runner process's peak, which older reports recorded.
    """
    if artifact.get("model_peak_mb") is not None:
        return artifact["model_peak_mb"], False
    if artifact.get("peak_rss_mb") is not None:
        return artifact["peak_rss_mb"], True
    return None, False

def artifact_values(artifact: dict) -> dict:
    """The raw values the artifact columns show, from one report.json artifact entry."""
    latency = artifact.get("latency_ms") or {}
    vs = artifact.get("vs_float32") or {}
    memory_mb, memory_is_process = model_memory(artifact)
    return {
        "artifact": artifact.get("name"), "status": artifact.get("status"), "format": artifact.get("format"),
        "precision": artifact.get("precision"), "size_bytes": artifact.get("size_bytes"),
        "gzip_bytes": artifact.get("gzip_bytes"), "accuracy": artifact.get("accuracy"),
        "accuracy_samples": artifact.get("accuracy_samples"),
        "p50_ms": latency.get("p50"), "p90_ms": latency.get("p90"),
        "model_memory_mb": memory_mb, "memory_is_process": memory_is_process,
        "peak_rss_mb": artifact.get("peak_rss_mb"),
        "acc_per_mb": artifact.get("acc_per_mb"), "acc_per_gzip_mb": artifact.get("acc_per_gzip_mb"),
        "acc_per_ms": artifact.get("acc_per_ms"),
        # Ratios are baseline / artifact: 4.00x means four times smaller (or faster) than float32.
        "size_ratio": vs.get("size_ratio"), "latency_p50_ratio": vs.get("latency_p50_ratio"),
        "accuracy_delta": vs.get("accuracy_delta"), "error": artifact.get("error"), "recommended": False,
    }

def _artifact_name(row: dict) -> str:
    name = cells.text(row.get("artifact"))
    return f"{MARK} {name}" if row.get("recommended") else name

def _memory(row: dict) -> str:
    shown = cells.number(row.get("model_memory_mb"))
    return shown + PROCESS_MEMORY_MARK if row.get("memory_is_process") and row.get("model_memory_mb") is not None \
        else shown

ARTIFACT = Column("artifact", _artifact_name, shows_note=True)
STATUS = value("status", "status", cells.status_label, no_wrap=True, shows_status=True)
FORMAT = value("format", "format", no_wrap=True)
PRECISION = value("precision", "precision", no_wrap=True)
SIZE = value("size_bytes", "size", cells.size, numeric=True, no_wrap=True)
GZIP = value("gzip_bytes", "gzip", cells.size, numeric=True, no_wrap=True)
ACCURACY = value("accuracy", "accuracy", cells.percent, numeric=True, no_wrap=True)
P50 = value("p50_ms", "p50 ms", cells.ms, numeric=True, no_wrap=True)
P90 = value("p90_ms", "p90 ms", cells.ms, numeric=True, no_wrap=True)
MODEL_MEMORY = Column("model MB", _memory, numeric=True, no_wrap=True)
ACC_PER_MB = value("acc_per_mb", "acc/MB", cells.efficiency, numeric=True, no_wrap=True)
ACC_PER_GZIP_MB = value("acc_per_gzip_mb", "acc/gzip MB", cells.efficiency, numeric=True, no_wrap=True)
ACC_PER_MS = value("acc_per_ms", "acc/ms", cells.efficiency, numeric=True, no_wrap=True)
SIZE_VS_FP32 = value("size_ratio", "x smaller", cells.ratio, numeric=True, no_wrap=True)
LATENCY_VS_FP32 = value("latency_p50_ratio", "x faster", cells.ratio, numeric=True, no_wrap=True)
ACCURACY_VS_FP32 = value("accuracy_delta", "acc vs fp32", cells.points, numeric=True, no_wrap=True)

# Every field: report.md, report.html and `--wide` on the terminal.
ARTIFACT_COLUMNS = [ARTIFACT, STATUS, FORMAT, PRECISION, SIZE, GZIP, ACCURACY, P50, P90, MODEL_MEMORY, ACC_PER_MB,
                    ACC_PER_GZIP_MB, ACC_PER_MS, SIZE_VS_FP32, LATENCY_VS_FP32, ACCURACY_VS_FP32]
# What a reader scans for, within 100 terminal columns: the status shows as the name's colour and,
# for a row that is not ok, in its note.
TERMINAL_COLUMNS = [ARTIFACT, PRECISION, SIZE, ACCURACY, P50, MODEL_MEMORY, SIZE_VS_FP32, LATENCY_VS_FP32]


def artifact_table(report: dict, columns: Optional[list[Column]] = None) -> Table:
    """One row per artifact; a failed one keeps its row, with its reason as the row's note.

    The artifact to ship (`edgecomp.reporting.recommend`) has its name marked.
    """
    picked = recommended_of(report).get("name")
    rows = []
    for a in report.get("artifacts") or []:
        values = {**artifact_values(a), "recommended": picked is not None and a.get("name") == picked}
        rows.append(Row(values, status=str(a.get("status") or ""), note=a.get("error")))
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
    return ("x smaller / x faster: the float32 baseline's size / latency p50 over the artifact's (2.00x = half "
            "the size or twice as fast); acc vs fp32: the accuracy difference in percentage points. "
            "model MB: the model's own peak resident memory (the runner's peak minus its RSS before loading "
            "the model). " + EFFICIENCY_NOTE)

def memory_note(report: dict) -> Optional[str]:
    """The † sentence when any artifact's memory figure is the process peak of an older report."""
    return PROCESS_MEMORY_NOTE if any(model_memory(a)[1] for a in report.get("artifacts") or []) else None

def table_notes(report: dict) -> list[str]:
    """The sentences every artifact table is followed by, in every format."""
    return [n for n in [recommend_legend(report), ratio_note(), memory_note(report), timing_floor_note(report)] if n]

def _dominance(row: dict) -> str:
    if row.get("dominated") is None:
        return cells.DASH
    return str(row["dominated_by"]) if row["dominated"] else "not dominated"

def _target(row: dict) -> str:
    return cells.text(row.get("target")) + (" (emulated)" if row.get("emulated") else "")

RUN = value("run", "run")
GROUP = value("group", "group", no_wrap=True)
DOMINATED_BY = Column("dominated by", _dominance)
# Every field of a comparison row (report files, `--wide`); the group column only when rows differ in it.
COMPARE_COLUMNS = [RUN, Column("target", _target), GROUP, ARTIFACT, STATUS, PRECISION, SIZE, ACCURACY, P50, P90,
                   MODEL_MEMORY, ACC_PER_MB, ACC_PER_GZIP_MB, ACC_PER_MS, DOMINATED_BY]
COMPARE_TERMINAL_COLUMNS = [RUN, GROUP, ARTIFACT, PRECISION, SIZE, ACCURACY, P50, DOMINATED_BY]


def compare_table(rows: list[dict], columns: Optional[list[Column]] = None) -> Table:
    """The comparison rows of `edgecomp.reporting.compare.compare_runs`, dominated ones marked.

    The group column (what the row was measured on) is shown when the rows are not all in one group.
    """
    columns = columns or COMPARE_COLUMNS
    if len({row.get("group") for row in rows}) < 2:
        columns = [column for column in columns if column is not GROUP]
    return Table(columns, [Row(row, status=str(row.get("status") or ""), note=row.get("error"),
                               classes=("dominated",) if row.get("dominated") else ())
                           for row in rows])

# ---- an emulated board's accuracy against the host's (edgecomp.targets.emulated) ---------------

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

    rows = [Row(a) for a in report.get("artifacts") or []
            if is_emulated(report) and (a.get("accuracy") is not None or a.get("host_error"))]
    return Table(CROSS_CHECK_COLUMNS, rows)

# ---- parity, deployment checks, stages --------------------------------------------------------

def _drop_interval(row: dict) -> str:
    """The accuracy drop (Keras minus file) and its paired 95% interval, in points."""
    drop, interval = row.get("accuracy_drop"), row.get("accuracy_drop_ci95")
    if drop is None or not interval:
        return cells.DASH
    return f"{cells.points(drop)} [{100 * interval[0]:+.2f}, {100 * interval[1]:+.2f}]"

PARITY_COLUMNS = [
    ARTIFACT, value("keras_accuracy", "Keras acc", cells.percent, numeric=True),
    value("file_accuracy", "file acc", cells.percent, numeric=True),
    Column("drop [95% interval]", _drop_interval, numeric=True),
    value("top1_agreement", "top-1 agreement", lambda v: cells.number(v, 4), numeric=True),
    value("max_abs_diff", "max |diff|", cells.number, numeric=True),
    value("mean_abs_diff", "mean |diff|", cells.number, numeric=True),
    value("decided_by", "decided by"),  # the rule that decided: accuracy, top-1 agreement
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

def model_notes(report: dict) -> list[str]:
    """Sentences on what edgecomp did to the user's model as given (a softmax head taken off for
    training and put back, augmentation layers left out); [] for a zoo model or an older report."""
    train = next((stage.get("info") or {} for stage in report.get("stages") or [] if stage["stage"] == "train"), {})
    notes = []
    head = train.get("output_head")
    if head:
        notes.append(f"The model ends in a softmax (`{head['layer']}`): the stages trained on its logits "
                     f"({head['logits_from']}); every exported file {head['deployable']}.")
    dropped = (train.get("augmentation_layers") or {}).get("dropped")
    if dropped:
        notes.append(f"Left out of the model: {', '.join(f'`{name}`' for name in dropped)}; "
                     f"{train['augmentation_layers']['why']}.")
    return notes

def _details(info: Optional[dict]) -> str:
    # The training history is a plot's data, not a detail.
    return json.dumps({k: v for k, v in (info or {}).items() if k != "history"})[:STAGE_DETAILS_CHARS]

def _cache_use(cached: Optional[bool]) -> str:
    # Reports written before the stage cache have no `cached` key: the dash, not a guess.
    return cells.DASH if cached is None else ("reused" if cached else "ran")

STAGE_COLUMNS = [
    value("stage", "stage"),
    # A reused stage keeps the seconds of the run that computed it.
    value("seconds", "seconds", lambda s: cells.DASH if s is None else f"{s:.1f}", numeric=True),
    value("cached", "stage cache", _cache_use),
    # Training stages (edgecomp.run.schedule); older reports and the quantize stage have none.
    value("epochs", "epochs", lambda n: cells.DASH if n is None else str(n), numeric=True),
    value("steps", "steps", lambda n: cells.DASH if n is None else f"{n:,}", numeric=True),
    value("info", "details", _details),
]


def stage_table(report: dict) -> Table:
    return Table(STAGE_COLUMNS, [Row(stage) for stage in report.get("stages") or []])
