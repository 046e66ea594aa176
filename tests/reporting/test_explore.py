"""`edgecomp explore`: the run's artifact and its overlays served by the real Model Explorer on loopback.

The fast test checks what the web app is given: the model and overlay files in the URL the server prints,
and an overlay read through the server's own file endpoint (the call the app makes to load node data). The
slow test opens the page in headless Chromium (benchmarks/report/explore_screenshot.py, which also makes
the README's screenshot): the graph drawn with WebGL, an overlay's colours on it and its values in the
node-data panel, and the page saved as explore.png in the test's tmp_path. Chromium resolves no host but
127.0.0.1, so the web fonts the page asks Google for fail and nothing the page asks for leaves the machine.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from edgecomp.core.errors import UsageError
from edgecomp.exporters.node_data import write_node_data
from edgecomp.reporting.explore import find_explore_target, node_data_dir


def _run_dir(tmp_path, tflite):
    (tmp_path / "artifacts").mkdir()
    shutil.copy(tflite, tmp_path / "artifacts" / "model_int8.tflite")
    report = {"recommended": {"name": "model_int8.tflite"},
              "artifacts": [{"name": "model.keras", "path": "artifacts/model.keras"},
                            {"name": "model_int8.tflite", "path": "artifacts/model_int8.tflite"}]}
    (tmp_path / "report.json").write_text(json.dumps(report))
    write_node_data(tmp_path / "artifacts" / "model_int8.tflite", node_data_dir(tmp_path, "model_int8.tflite"))
    return tmp_path


def test_the_recommended_artifact_and_its_overlays_are_found(tiny_tflite, tmp_path):
    run = _run_dir(tmp_path, tiny_tflite["int8"])
    target = find_explore_target(run)
    assert target.artifact == "model_int8.tflite" and target.model.is_file()
    assert {p.stem for p in target.node_data} >= {"params", "macs", "weight_bits", "activation_bits"}
    with pytest.raises(UsageError, match="model_int8.tflite"):
        find_explore_target(run, "model_float16.tflite")
    with pytest.raises(UsageError, match="report.json"):
        find_explore_target(tmp_path / "nowhere")


def test_the_page_opens_on_the_op_profile_else_the_quantization_error_else_the_macs(tiny_tflite, tmp_path):
    """Model Explorer shows the overlay it loaded last, so the most telling one goes last."""
    run = _run_dir(tmp_path, tiny_tflite["int8"])
    folder = node_data_dir(run, "model_int8.tflite")
    assert [p.stem for p in find_explore_target(run).node_data][-1] == "macs"
    (folder / "quantization_snr_db.json").write_text("{}")
    assert [p.stem for p in find_explore_target(run).node_data][-1] == "quantization_snr_db"
    (run / "model_int8.op_profile.node_data.json").write_text("{}")  # written by bench --op-profile
    names = [p.name for p in find_explore_target(run).node_data]
    assert names[-2:] == ["quantization_snr_db.json", "model_int8.op_profile.node_data.json"]
    assert sorted(names[:-3]) == names[:-3] and "macs.json" == names[-3]


def test_a_target_folder_of_a_build_on_several_targets_finds_the_shared_overlays(tiny_tflite, tmp_path):
    """OUT/<target>/report.json points at ../artifacts/; the overlays were written once in OUT/explore/."""
    run = _run_dir(tmp_path, tiny_tflite["int8"])
    report = json.loads((run / "report.json").read_text())
    for artifact in report["artifacts"]:
        artifact["path"] = "../" + artifact["path"]
    (run / "host").mkdir()
    (run / "host" / "report.json").write_text(json.dumps(report))
    (run / "report.json").write_text(json.dumps({"targets": [], "artifacts": ["model_int8.tflite"]}))
    target = find_explore_target(run / "host")
    assert target.model.resolve() == (run / "artifacts" / "model_int8.tflite").resolve()
    assert {p.stem for p in target.node_data} >= {"params", "macs"}
    with pytest.raises(UsageError, match="several targets.*host"):
        find_explore_target(run)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_explore_serves_the_model_with_its_overlays(tiny_tflite, tmp_path):
    pytest.importorskip("model_explorer")
    run = _run_dir(tmp_path, tiny_tflite["int8"])
    port = _free_port()
    command = [sys.executable, "-c", "from edgecomp.cli.main import run; run()", "explore", str(run),
               "--no-browser", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.time() + 60
        while time.time() < deadline and not any("?data=" in line for line in lines):
            line = server.stdout.readline()
            if not line and server.poll() is not None:
                break
            lines.append(line)
        address = next(line.strip() for line in lines if "?data=" in line)
        data = json.loads(urllib.parse.unquote(address.split("?data=", 1)[1]))
        assert [m["url"] for m in data["models"]] == [str(run / "artifacts" / "model_int8.tflite")]
        overlays = data["nodeData"]
        assert {p.rsplit("/", 1)[1] for p in overlays} >= {"params.json", "macs.json", "weight_bits.json"}
        weight_bits = next(p for p in overlays if p.endswith("weight_bits.json"))
        query = urllib.parse.urlencode({"path": weight_bits})
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/read_text_file?{query}", timeout=10) as reply:
            served = json.loads(json.loads(reply.read())["content"])
        values = {result["value"] for result in served["main"]["results"].values()}
        assert values == {8}  # every kernel of the int8 file stores 8-bit weights
    finally:
        server.terminate()
        server.wait(timeout=20)


SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "report" / "explore_screenshot.py"
CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else shutil.which("chromium")


@pytest.fixture(scope="module")
def untrained_int8_tflite(tmp_path_factory):
    """An int8 file of the untrained cnn-tiny (seconds, where the trained `tiny_tflite` takes a minute): the
    overlays the browser shows (MACs, params, bits) do not depend on the weights."""
    import numpy as np

    from edgecomp.exporters.tflite import keras_to_tflite
    from edgecomp.models.zoo import build_zoo_model

    model = build_zoo_model("cnn-tiny", (28, 28, 1), 10)
    calibration = np.random.default_rng(0).random((16, 28, 28, 1), dtype=np.float32)
    return keras_to_tflite(model, tmp_path_factory.mktemp("untrained") / "tiny_int8.tflite", "int8", calibration)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")
def test_the_page_draws_the_graph_with_an_overlay_in_headless_chromium(untrained_int8_tflite, tmp_path):
    pytest.importorskip("model_explorer")
    spec = importlib.util.spec_from_file_location("explore_screenshot", SCRIPT)
    shot = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # registered: it has a dataclass
    spec.loader.exec_module(shot)
    run = _run_dir(tmp_path, untrained_int8_tflite)
    overlay_file = node_data_dir(run, "model_int8.tflite") / "macs.json"
    macs = json.loads(overlay_file.read_text())["main"]["results"]
    low, high = shot.gradient_ends(overlay_file)
    overlays = sorted(p.stem for p in node_data_dir(run, "model_int8.tflite").glob("*.json"))
    server, url = shot.start_explore(run, shot.free_port())
    try:
        view = shot.capture(url, tmp_path / "explore.png", "macs", (low, high), len(overlays), CHROMIUM, timeout_s=150)
    finally:
        server.terminate()
        server.wait(timeout=20)
    # every overlay the run wrote is loaded in the node-data panel, none failed, and macs is the one drawn
    assert sorted(view.overlays) == overlays
    assert view.failed_overlays == [] and view.selected == "macs"
    # its column holds the file's values, one per layer, coloured by the overlay's gradient at both ends
    assert sorted(int(text) for _, text, _ in view.cells) == sorted(r["value"] for r in macs.values())
    backgrounds = {int(text): colour for _, text, colour in view.cells}
    assert backgrounds[max(backgrounds)] == "rgb({}, {}, {})".format(*high)
    assert backgrounds[min(backgrounds)] == "rgb({}, {}, {})".format(*low)
    # the graph's canvas has nodes filled with both colours: the overlay is drawn on the graph itself
    assert all(pixels > 200 for pixels in view.graph_pixels.values()), view.graph_pixels
    assert view.outside_requests == []  # only 127.0.0.1 answered
    png = (tmp_path / "explore.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and int.from_bytes(png[16:24], "big") == (1400 << 32) + 1000
