"""edgecomp: compress a Keras image model, export it for the edge and measure it on the device.

The Python API (the CLI is a thin layer over the same functions):

- `edgecomp.build(model, data, target="host", ...) -> BuildResult`: the whole pipeline.
- `edgecomp.benchmark(files, target="host", data=...) -> BenchResult`: measure files you bring;
  `edgecomp.benchmark_on_targets(files, ["rpi4", "android-arm64"])`: the same on several devices.
- `edgecomp.search_budget(model, data, target=..., max_size_kb=..., ...) -> SearchResult`: the most
  accurate compression chain that fits a device budget (the `search` extra).
- `edgecomp.load_report(run_dir) -> BuildResult`: a finished run, read back.
- `edgecomp.quantize`, `export_model`, `prune`, `qat`, `distill`: one stage on an in-memory model.

`import edgecomp` imports no TensorFlow: each name is loaded on first use (PEP 562). `bench`,
`search` and `export` are subpackages, so the functions are `benchmark`, `search_budget` and
`export_model`.

Examples:
    >>> import edgecomp
    >>> edgecomp.build.__module__
    'edgecomp.api.build'
"""

from __future__ import annotations

import importlib
from typing import Any

from edgecomp.core.version import __version__

# Public name -> the module of edgecomp.api that defines it.
_API = {
    "build": "edgecomp.api.build",
    "benchmark": "edgecomp.api.bench",
    "benchmark_on_targets": "edgecomp.api.bench",
    "load_report": "edgecomp.api.results",
    "BuildResult": "edgecomp.api.results",
    "BenchResult": "edgecomp.api.results",
    "Artifact": "edgecomp.api.results",
    "search_budget": "edgecomp.api.search",
    "SearchResult": "edgecomp.api.search",
    "quantize": "edgecomp.api.stages",
    "export_model": "edgecomp.api.stages",
    "prune": "edgecomp.api.stages",
    "qat": "edgecomp.api.stages",
    "distill": "edgecomp.api.stages",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    """Loads a public name from `edgecomp.api` on first use, so `import edgecomp` stays light."""
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'edgecomp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
