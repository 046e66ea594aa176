"""The installable wheel: every package and runtime file inside, and it works from a fresh venv."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_every_edgecomp_package_is_listed_in_pyproject():
    from setuptools.config.pyprojecttoml import load_file  # tomllib is Python 3.11+; edgecomp supports 3.10

    listed = set(load_file(REPO / "pyproject.toml")["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "edgecomp").rglob("__init__.py")}
    assert found - listed == set(), "add these packages to [tool.setuptools] packages in pyproject.toml"
    assert "edgecomp.profiles" in listed


@pytest.mark.slow
def test_wheel_installs_in_a_fresh_venv_and_benchmarks_a_file(precision_files, tmp_path):
    """scripts/wheel-smoke.sh (also a .ci/run step) builds, installs with --no-deps and runs two commands."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EDGECOMP_TARGETS_DIR")}
    env["PYTHON"] = sys.executable
    proc = subprocess.run(["bash", str(REPO / "scripts" / "wheel-smoke.sh"), str(tmp_path),
                           str(precision_files["int8"])], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("edgecomp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"edgecomp/measure/runner.py", "edgecomp/measure/timing_floor.tflite", "edgecomp/profiles/host.yaml",
            "edgecomp/profiles/rpi4.yaml"} <= names
    venv_python = tmp_path / "venv" / "bin" / "python"
    probe = "import edgecomp, json, sys; print(json.dumps([edgecomp.__file__, sys.path]))"
    where = subprocess.run([str(venv_python), "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env,
                           check=True)
    module_file, path = json.loads(where.stdout)
    assert module_file.startswith(str(tmp_path / "venv"))
    assert not any(entry and Path(entry).resolve() == REPO for entry in path)
    assert "host (host) is reachable" in proc.stdout
    report = json.loads((tmp_path / "bench" / "report.json").read_text())
    (row,) = report["artifacts"]
    assert row["status"] == "ok" and row["precision"] == "int8" and row["accuracy_samples"] == 200
    assert report["timing_floor_ms"]["p50"] > 0  # the shipped timing-floor file ran
