"""The package's front door: `import edgecomp` is light, the API is found by name and documented."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import edgecomp


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_import_edgecomp_loads_no_tensorflow_and_no_api():
    loaded = json.loads(_run("import edgecomp, json, sys; print(json.dumps(sorted(sys.modules)))"))
    assert not [name for name in loaded if name.split(".")[0] in {"tensorflow", "tf_keras", "keras"}]
    assert not [name for name in loaded if name.startswith("edgecomp.api")]  # loaded on first use


def test_help_of_build_documents_the_api():
    text = _run("import edgecomp; help(edgecomp.build)")
    for words in ("Args:", "model:", "data:", "target:", "min_accuracy:", "Returns:", "BuildResult", "Examples:"):
        assert words in text


@pytest.mark.parametrize("name", ["build", "benchmark", "search_budget", "load_report", "quantize", "export_model"])
def test_every_public_function_has_an_examples_block(name):
    function = getattr(edgecomp, name)
    assert "Examples:" in function.__doc__ and "Args:" in function.__doc__
    assert name in dir(edgecomp)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'biuld'"):
        edgecomp.biuld  # noqa: B018
