"""examples/quickstart.ipynb executed by a real Jupyter kernel (nbclient + ipykernel), its outputs checked."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook run in a fresh kernel in a temporary folder, as a user would: TF_USE_LEGACY_KERAS unset
    (a notebook imports Keras 3 before edgecomp), this checkout importable."""
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    folder = tmp_path_factory.mktemp("notebook")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    saved = {name: os.environ.pop(name, None) for name in ("TF_USE_LEGACY_KERAS",)}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NOTEBOOK.parents[1]), os.environ.get("PYTHONPATH")]))
    try:
        nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        os.environ.update({name: value for name, value in saved.items() if value is not None})
    return notebook, folder


def result_of(cell) -> dict:
    """The value the cell's last line showed (its execute_result's data by MIME type)."""
    return next(o["data"] for o in cell.get("outputs", []) if o.get("output_type") == "execute_result")


def printed_by(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def cell_running(notebook, text: str):
    return next(cell for cell in notebook.cells if cell.cell_type == "code" and text in cell.source)


@pytest.mark.slow
def test_the_build_cell_shows_the_table_the_star_and_the_plots(executed):
    notebook, _ = executed
    html = result_of(cell_running(notebook, "edgecomp.build("))["text/html"]
    assert "<table>" in html and "★ model_" in html and html.count("data:image/png;base64,") == 2


@pytest.mark.slow
def test_the_recommended_file_exists_and_runs_in_litert(executed):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    notebook, folder = executed
    printed = printed_by(cell_running(notebook, "result.recommended.path"))
    path = Path(re.search(r"(/\S+\.tflite)", printed).group(1))
    assert path.is_file() and folder in path.parents
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    interpreter.invoke()
    assert interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).shape == (1, 10)


@pytest.mark.slow
def test_the_stage_function_cell_wrote_a_float16_file(executed):
    notebook, folder = executed
    result = result_of(cell_running(notebook, "edgecomp.quantize("))["text/plain"]
    assert "model_float16.tflite" in result
    assert (folder / "runs" / "quickstart-float16" / "artifacts" / "model_float16.tflite").is_file()
