"""`edgecomp.report`: finished runs read back (`edgecomp.report.load(run_dir)`).

The report code itself (report.json, tables, HTML, plots) is `edgecomp.reporting`; this module is the
public face the root package hands out as `edgecomp.report`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Union

from edgecomp.api.results import BenchResult, BuildResult, MultiTargetResult
from edgecomp.reporting.compare import load_report as read_report_json


def load(run_dir) -> Union[BuildResult, MultiTargetResult]:
    """The result of a finished run, read from its report.json (a build's or a bench's).

    Args:
        run_dir: a run folder, or its report.json path.

    Returns:
        A `BuildResult`, or a `BenchResult` for a run of `edgecomp bench` / `edgecomp.bench`, or a
        `MultiTargetResult` for a build on several targets (`edgecomp build --target a --target b`).

    Raises:
        ReportError: no report there, or not an edgecomp report.

    Examples:
        >>> import edgecomp
        >>> edgecomp.report.load("no/such/run")
        Traceback (most recent call last):
        ...
        edgecomp.reporting.compare.ReportError: no report at no/such/run/report.json (no/such/run does not exist); ...
    """
    path = Path(run_dir)
    combined_path = path if path.suffix == ".json" else path / "report.json"
    try:
        combined = json.loads(combined_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        combined = None  # read_report_json below says what is wrong
    if isinstance(combined, dict) and combined.get("kind") == "multi_target" and combined.get("run") == "build":
        reports = {t["name"]: read_report_json(combined_path.parent / Path(t["report"]).parent)
                   for t in combined["targets"] if t["status"] == "ok"}
        return MultiTargetResult.from_reports(combined, reports)
    report = read_report_json(path)
    is_bench = not report.get("stages") and (report.get("keras") or {}).get("accuracy") is None
    return (BenchResult if is_bench else BuildResult).from_report(report)


__all__ = ["load"]
