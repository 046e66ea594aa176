"""In Jupyter the bars are widgets (tqdm.notebook on ipywidgets): a notebook executed by a real kernel
(nbclient + ipykernel, as tests/examples does) shows one for a loop of steps and one for a Keras fit.
Slow: starting a kernel that imports TensorFlow takes most of a minute on 2 busy cores."""

from __future__ import annotations

import html
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
LOOP_CELL = """
import time
from edgecomp.core.progress import StepsProgress, display_mode

print(display_mode())
with StepsProgress("export", 3, "file", "exported {done} files in {elapsed}") as steps:
    for name in ["a.tflite", "b.tflite", "c.tflite"]:
        steps.begin(f"exporting {name}", status=name)
        time.sleep(0.2)
        steps.advance()
"""
FIT_CELL = """
import numpy as np
from edgecomp.core.progress import keras_progress_callback
from edgecomp.core.tfenv import keras

inputs = keras().Input((4,))
model = keras().Model(inputs, keras().layers.Dense(2)(inputs))
model.compile("adam", "sparse_categorical_crossentropy")
x, y = np.random.default_rng(0).normal(size=(64, 4)), np.arange(64) % 2
model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[keras_progress_callback(2, 4, "train")])
"""


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    pytest.importorskip("ipywidgets")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(LOOP_CELL), nbformat.v4.new_code_cell(FIT_CELL)]
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), saved]))
    try:
        nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path_factory.mktemp("nb"))}}).execute()
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = saved
    return notebook


def widget_outputs(cell) -> list[dict]:
    return [o for o in cell.outputs if o.get("output_type") == "display_data" and WIDGET_VIEW in o.get("data", {})]


def widget_texts(notebook) -> list[str]:
    """The final text of every HTML widget the kernel left (tqdm's label and its `n/total [elapsed<left]`)."""
    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    return [html.unescape(model["state"].get("value", "")).replace("\u2007", " ")  # tqdm pads with figure spaces
            for model in state.values() if model.get("model_name") == "HTMLModel"]


def test_a_loop_of_steps_is_a_widget_bar_with_its_lines(executed):
    cell = executed.cells[0]
    printed = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    assert printed.strip() == "notebook"
    bars = widget_outputs(cell)
    assert len(bars) == 1 and "export" in bars[0]["data"]["text/plain"]
    lines = " ".join(o["data"].get("text/plain", "") for o in cell.outputs if o.get("output_type") == "display_data")
    assert "[3/3] exporting c.tflite" in lines and "exported 3 files in" in lines
    # n/total [elapsed<time left, rate, the step running]
    assert any("3/3 [00:0" in text and "<00:00" in text and "c.tflite" in text for text in widget_texts(executed))


def test_a_keras_fit_is_one_widget_bar_over_all_epochs(executed):
    cell = executed.cells[1]
    assert [o for o in cell.outputs if o.get("output_type") == "error"] == []
    bars = widget_outputs(cell)
    assert len(bars) == 1 and "train" in bars[0]["data"]["text/plain"]
    assert any("8/8 [" in text and "loss" in text for text in widget_texts(executed))
