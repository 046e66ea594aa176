"""Report plots as PNG bytes: accuracy vs size and vs latency with the Pareto front, latency spread.

matplotlib is imported inside the functions (Agg backend, no display, no pyplot global state), so
importing this module stays cheap for `edgecomp --help`.
"""

from __future__ import annotations

import io
from typing import Optional, Sequence

from edgecomp.reporting.pareto import METRICS, pareto_front

AXIS_LABELS = {"size": "size (MB, log scale)", "gzip": "gzip size (MB, log scale)",
               "latency": "latency p50 (ms, log scale)", "memory": "model peak memory (MB, log scale)"}
# Sizes are plotted in decimal MB; the other metrics in their own unit.
AXIS_SCALE = {"size": 1e-6, "gzip": 1e-6}
STATUS_COLORS = {"ok": "#1f77b4", "parity_failed": "#d62728"}


def _figure(width: float = 6.0, height: float = 4.2):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])


def _plain_log_ticks(ax) -> None:
    """Log axis ticks as plain numbers (0.5, 1, 2) rather than 5x10^-1."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))


def tradeoff_png(points: Sequence[dict], x_metric: str = "size", labels: Optional[Sequence[str]] = None,
                 title: Optional[str] = None, x_limit: Optional[float] = None,
                 min_accuracy: Optional[float] = None) -> bytes:
    """Accuracy against `x_metric`, the Pareto front (accuracy up, x down) drawn as a step line.

    Args:
        points: Artifact dicts (failed ones and ones without the numbers are skipped).
        x_metric: "size", "gzip", "latency" or "memory" (see `edgecomp.reporting.pareto.METRICS`).
        labels: Text beside each point [the artifact names].
        title: Plot title [accuracy vs the metric].
        x_limit: A budget on `x_metric` in its report unit (bytes, ms, MB), drawn as a dashed line.
        min_accuracy: A budget's accuracy floor (a fraction), drawn as a dashed line.

    Returns:
        PNG bytes; a plot that says so when no artifact has both numbers.
    """
    read_x = METRICS[x_metric]
    labels = list(labels) if labels is not None else [str(p.get("name", "?")) for p in points]
    figure = _figure()
    ax = figure.add_subplot()
    ax.set_title(title or f"accuracy vs {x_metric}")
    placed = [i for i, p in enumerate(points)
              if p.get("status") != "failed" and read_x(p) is not None and p.get("accuracy") is not None]
    if not placed:
        _empty(ax, "no artifact has both numbers measured")
        return _png(figure)
    scale = AXIS_SCALE.get(x_metric, 1.0)
    front = set(pareto_front(points, maximize=("accuracy",), minimize=(x_metric,)))
    for i in placed:
        point = points[i]
        x, y = read_x(point) * scale, 100 * point["accuracy"]
        color = STATUS_COLORS.get(point.get("status"), "gray")
        on_front = i in front
        ax.scatter([x], [y], s=60 if on_front else 40, marker="o" if point.get("status") == "ok" else "X",
                   facecolors=color if on_front else "none", edgecolors=color, zorder=3)
        ax.annotate(labels[i], (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    front_xy = sorted((read_x(points[i]) * scale, 100 * points[i]["accuracy"]) for i in front)
    if front_xy:
        xs, ys = zip(*front_xy)
        ax.step(xs, ys, where="post", color="#2ca02c", linewidth=1.2, label="Pareto front", zorder=2)
    if x_limit is not None:
        ax.axvline(x_limit * scale, color="#ff7f0e", linestyle="--", linewidth=1.2, label="budget")
    if min_accuracy is not None:
        ax.axhline(100 * min_accuracy, color="#ff7f0e", linestyle="--", linewidth=1.2,
                   label=None if x_limit is not None else "budget")
    ax.set_xscale("log")
    _plain_log_ticks(ax)
    ax.margins(x=0.12, y=0.12)
    ax.set_xlabel(AXIS_LABELS.get(x_metric, x_metric))
    ax.set_ylabel("accuracy (%)")
    ax.grid(True, which="both", alpha=0.3)
    ax.scatter([], [], marker="o", facecolors="gray", edgecolors="gray", label="on the front (filled)")
    ax.scatter([], [], marker="o", facecolors="none", edgecolors="gray", label="dominated (hollow)")
    if any(points[i].get("status") == "parity_failed" for i in placed):
        ax.scatter([], [], marker="X", color=STATUS_COLORS["parity_failed"], label="parity failed")
    ax.legend(fontsize=8, loc="best")
    return _png(figure)


def accuracy_vs_size_png(artifacts: Sequence[dict]) -> bytes:
    """Accuracy (%) against file size (MB), Pareto front marked."""
    return tradeoff_png(artifacts, "size", title="accuracy vs size")


def accuracy_vs_latency_png(artifacts: Sequence[dict]) -> bytes:
    """Accuracy (%) against latency p50 (ms), Pareto front marked."""
    return tradeoff_png(artifacts, "latency", title="accuracy vs latency p50")


def latency_distribution_png(artifacts: Sequence[dict]) -> bytes:
    """A box plot per artifact of every timed single-image run (`latencies_ms`).

    Args:
        artifacts: Artifact dicts; ones without `latencies_ms` are skipped.

    Returns:
        PNG bytes; a plot that says so when no artifact has latencies.
    """
    timed = [a for a in artifacts if a.get("latencies_ms")]
    figure = _figure(6.0, max(2.5, 0.5 * len(timed) + 1.5))
    ax = figure.add_subplot()
    ax.set_title("latency per single-image run")
    if not timed:
        _empty(ax, "no latencies measured")
        return _png(figure)
    # Horizontal boxes so long artifact names stay readable; whiskers at p1/p99 show the tail.
    ax.boxplot([a["latencies_ms"] for a in timed], orientation="horizontal", whis=(1, 99), sym=".",
               flierprops={"markersize": 2, "alpha": 0.4})
    ax.set_yticks(range(1, len(timed) + 1), [str(a.get("name", "?")) for a in timed], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("latency (ms); box p25-p75, line median, whiskers p1-p99")
    ax.grid(True, axis="x", alpha=0.3)
    return _png(figure)


def report_plots(report: dict) -> dict[str, bytes]:
    """Every plot of one report, by title: the two trade-offs and the latency distribution."""
    artifacts = report.get("artifacts") or []
    return {
        "Accuracy vs size": accuracy_vs_size_png(artifacts),
        "Accuracy vs latency": accuracy_vs_latency_png(artifacts),
        "Latency distribution": latency_distribution_png(artifacts),
    }
