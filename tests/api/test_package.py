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


@pytest.mark.parametrize("name", ["build", "bench", "bench_on_targets", "search", "quantize", "export", "prune", "qat", "distill"])
def test_every_public_function_has_an_examples_block(name):
    function = getattr(edgecomp, name)
    assert "Examples:" in function.__doc__ and "Args:" in function.__doc__
    assert name in dir(edgecomp)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'biuld'"):
        edgecomp.biuld  # noqa: B018


def test_the_public_names_hold_after_every_subpackage_is_imported():
    """No subpackage shares a public name: importing them all (in a fresh process, before the names are
    first used) leaves `edgecomp.bench`, `search` and `export` functions and `edgecomp.report` the loader."""
    code = ("import importlib, pkgutil, edgecomp\n"
            "for info in pkgutil.iter_modules(edgecomp.__path__):\n"
            "    if info.ispkg: importlib.import_module('edgecomp.' + info.name)\n"
            "print(sorted(n for n in ('bench', 'search', 'export', 'report') if n in vars(edgecomp)))\n"
            "print(callable(edgecomp.bench), callable(edgecomp.search), callable(edgecomp.export),"
            " edgecomp.report.load.__module__)")
    before, after = _run(code).splitlines()
    assert before == "[]"  # nothing imported above took one of the names
    assert after == "True True True edgecomp.api.report"
