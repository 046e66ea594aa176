"""Emulated targets in reports: labelled everywhere, never on a latency front, never latency-gated."""

import copy
import io

from rich.console import Console

from edgecomp.core.emulation import EMULATED_NOTE
from edgecomp.reporting.compare import compare_csv, compare_html, compare_markdown, compare_runs
from edgecomp.reporting.gates import check_gates
from edgecomp.reporting.html import render_html
from edgecomp.reporting.markdown import render_markdown
from edgecomp.reporting.pareto import JOINT_TRADEOFF, LATENCY_TRADEOFF, SIZE_TRADEOFF, pareto_front
from edgecomp.reporting.terminal import render_table


def emulated(report: dict) -> dict:
    """The same report as measured on rpi4-emulated: the facts and every benchmarked row say so."""
    report = copy.deepcopy(report)
    report["target"] = {"name": "rpi4-emulated", "kind": "ssh",
                        "facts": {"emulated": True, "architecture": "aarch64", "emulator": "qemu-aarch64 7.2"}}
    for artifact in report["artifacts"]:
        if artifact["status"] != "failed":
            artifact.update(emulated=True, host_accuracy=artifact["accuracy"], accuracy_vs_host_points=0.0)
    return report


def test_latency_fronts_leave_emulated_points_out_but_size_fronts_keep_them(build_report):
    artifacts = emulated(build_report)["artifacts"]
    assert pareto_front(build_report["artifacts"], **LATENCY_TRADEOFF) != []
    assert pareto_front(artifacts, **LATENCY_TRADEOFF) == []
    assert pareto_front(artifacts, **JOINT_TRADEOFF) == []
    assert pareto_front(artifacts, **SIZE_TRADEOFF) == pareto_front(build_report["artifacts"], **SIZE_TRADEOFF)


def test_a_latency_gate_on_an_emulated_report_is_a_violation_not_a_pass(build_report):
    report = emulated(build_report)
    report["artifacts"] = [a for a in report["artifacts"] if a["status"] == "ok"]
    violations = check_gates(report, max_latency_ms=1000.0)
    assert len(violations) == 2 and all("measured under emulation" in v for v in violations)
    assert check_gates(report, max_size_mb=2.0, min_accuracy=90.0) == []  # size and accuracy still count


def test_every_renderer_labels_the_report(build_report):
    report = emulated(build_report)
    assert EMULATED_NOTE in render_markdown(report)
    assert "Board vs host accuracy" in render_markdown(report)
    html = render_html(report, plots={})
    assert "Emulated target" in html and "Board vs host accuracy" in html
    buffer = io.StringIO()
    render_table(report, Console(file=buffer, width=400))
    assert "Emulated target" in buffer.getvalue()
    assert EMULATED_NOTE not in render_markdown(build_report)


def test_comparison_keeps_emulated_rows_apart_from_a_device_with_the_same_name(build_report):
    device = copy.deepcopy(build_report)
    device["target"]["name"] = "rpi4-emulated"  # same name, real numbers
    rows = compare_runs([device, emulated(build_report)], labels=["device", "emulated"])
    emulated_rows = [r for r in rows if r["run"] == "emulated"]
    assert all(r["emulated"] for r in emulated_rows) and not any(r["emulated"] for r in rows if r["run"] == "device")
    assert all(r["dominated"] is None for r in emulated_rows)  # no latency to rank on
    assert not any((r["dominated_by"] or "").startswith("emulated/") for r in rows)
    assert "rpi4-emulated (emulated)" in compare_markdown(rows)
    assert "emulated" in compare_csv(rows).splitlines()[0].split(",")
    assert "rpi4-emulated (emulated)" in compare_html(rows)
