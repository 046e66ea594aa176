"""`edgecomp.report`: finished runs read back (`edgecomp.report.load(run_dir)`).

The report code itself (report.json, tables, HTML, plots) is `edgecomp.reporting`; this module is the
public face the root package hands out as `edgecomp.report`.
"""

from __future__ import annotations

from pathlib import Path

from edgecomp.api.results import BenchResult, BuildResult
from edgecomp.reporting.compare import load_report as read_report_json


def load(run_dir) -> BuildResult:
    """The result of a finished run, read from its report.json (a build's or a bench's).

    Args:
        run_dir: a run folder, or its report.json path.

    Returns:
        A `BuildResult`, or a `BenchResult` for a run of `edgecomp bench` / `edgecomp.bench`.

    Raises:
        ReportError: no report there, or not an edgecomp report.

    Examples:
        >>> import edgecomp
        >>> edgecomp.report.load("no/such/run")
        Traceback (most recent call last):
        ...
        edgecomp.reporting.compare.ReportError: no report at no/such/run/report.json (no/such/run does not exist); ...
    """
    report = read_report_json(Path(run_dir))
    is_bench = not report.get("stages") and (report.get("keras") or {}).get("accuracy") is None
    return (BenchResult if is_bench else BuildResult).from_report(report)


__all__ = ["load"]
