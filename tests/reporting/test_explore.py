"""`edgecomp explore`: the run's artifact and its overlays served by the real Model Explorer on loopback.

The page itself is not opened in a browser here: Model Explorer's web app draws the graph with WebGL and
fetches web fonts from the internet, which this machine cannot reach. The test checks what the app is
given instead: the model and overlay files in the URL the server prints, and the overlay read through the
server's own file endpoint (the call the app makes to load node data).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

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
