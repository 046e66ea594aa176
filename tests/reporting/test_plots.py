"""Plots show the report's numbers: the points, the Pareto front and the latency boxes are read back
from the matplotlib figure each function saved, and the PNG is decoded."""

import io

import numpy as np
import pytest
from PIL import Image

from edgecomp.reporting.plots import latency_distribution_png, tradeoff_png


@pytest.fixture()
def saved_figures(monkeypatch):
    """Every matplotlib figure saved while the test runs (the real savefig still writes the PNG)."""
    from matplotlib.figure import Figure

    figures, real_savefig = [], Figure.savefig

    def recording_savefig(self, *args, **kwargs):
        figures.append(self)
        return real_savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recording_savefig)
    return figures


def decoded(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB"))


def scatter_points(ax) -> list[tuple[float, float, bool]]:
    """(x, y, filled) of every scatter point drawn with data (the legend's empty samples excluded)."""
    points = []
    for collection in ax.collections:
        faces = collection.get_facecolors()
        for (x, y) in collection.get_offsets():
            points.append((float(x), float(y), len(faces) > 0 and faces[0][3] > 0))
    return points


def test_size_tradeoff_plots_each_measured_artifact_at_its_size_and_accuracy(build_report, saved_figures):
    png = tradeoff_png(build_report["artifacts"], "size")
    pixels = decoded(png)
    assert pixels.shape == (420, 600, 3)  # 6 x 4.2 inches at 100 dpi
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # drawn on, not a blank canvas
    (figure,) = saved_figures
    ax = figure.axes[0]
    # conftest.build_artifacts: (MB, %) of the three files with numbers; the failed .onnx has none.
    # On the front (filled): the int8 .tflite (smallest) and the float32 .tflite (most accurate).
    # The float32 .onnx is larger and less accurate than the float32 .tflite: hollow.
    expected = {(0.49832, 90.98, True), (1.931264, 91.12, True), (1.93501, 91.05, False)}
    assert {(round(x, 6), round(y, 2), filled) for x, y, filled in scatter_points(ax)} == expected
    assert sorted(text.get_text() for text in ax.texts) == ["model_float32.onnx", "model_float32.tflite",
                                                            "model_int8.tflite"]
    (front,) = [line for line in ax.lines if line.get_label() == "Pareto front"]
    np.testing.assert_allclose(front.get_xdata(), [0.49832, 1.931264])
    np.testing.assert_allclose(front.get_ydata(), [90.98, 91.12])
    assert ax.get_xscale() == "log"


def test_latency_distribution_has_one_box_per_timed_artifact_at_its_median(build_report, saved_figures):
    artifacts = build_report["artifacts"]
    pixels = decoded(latency_distribution_png(artifacts))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50
    (figure,) = saved_figures
    ax = figure.axes[0]
    timed = [a for a in artifacts if a.get("latencies_ms")]  # the failed .onnx was never timed
    assert [label.get_text() for label in ax.get_yticklabels()] == [a["name"] for a in timed]
    medians = [line.get_xdata()[0] for line in ax.lines if line.get_color() == "C1"]  # boxplot's median lines
    np.testing.assert_allclose(medians, [np.median(a["latencies_ms"]) for a in timed])


def test_nothing_to_plot_still_gives_a_png_that_says_so(saved_figures):
    failed = [{"name": "x", "status": "failed", "accuracy": None, "size_bytes": None}]
    for png in (tradeoff_png(failed, "size"), latency_distribution_png(failed)):
        assert decoded(png).size > 0
    messages = [text.get_text() for figure in saved_figures for text in figure.axes[0].texts]
    assert messages == ["no artifact has both numbers measured", "no latencies measured"]
