"""Plots are PNG bytes, including when nothing can be plotted."""

from edgecomp.report.plots import latency_distribution_png, tradeoff_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_tradeoff_and_distribution_are_png(build_report):
    artifacts = build_report["artifacts"]
    for png in [tradeoff_png(artifacts, "size"), tradeoff_png(artifacts, "latency"),
                latency_distribution_png(artifacts)]:
        assert png.startswith(PNG_MAGIC) and len(png) > 5000


def test_nothing_to_plot_still_gives_a_png():
    failed = [{"name": "x", "status": "failed", "accuracy": None, "size_bytes": None}]
    assert tradeoff_png(failed, "size").startswith(PNG_MAGIC)
    assert latency_distribution_png(failed).startswith(PNG_MAGIC)
