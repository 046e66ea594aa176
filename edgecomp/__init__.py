"""edgecomp: compress a Keras image model, export it for the edge and measure it on the device.

The Python API (the CLI is a thin layer over the same functions):

- `edgecomp.build(model, data, target="host", ...) -> BuildResult`: the whole pipeline;
  `target=["rpi4", "rpi5"]`: compressed once, measured on each (`MultiTargetResult`).
- `edgecomp.bench(files, target="host", data=...) -> BenchResult`: measure files you bring;
  `edgecomp.bench_on_targets(files, ["rpi4", "android-arm64"])`: the same on several devices.
- `edgecomp.search(model, data, target=..., max_size_kb=..., ...) -> SearchResult`: the most
  accurate compression chain that fits a device budget (the `search` extra).
- `edgecomp.report.load(run_dir) -> BuildResult`: a finished run, read back.
- `edgecomp.quantize`, `export`, `prune`, `qat`, `distill`: one stage on an in-memory model.

`import edgecomp` imports no TensorFlow: each name is loaded on first use (PEP 562). The code
behind them lives in subpackages named for what they hold (`measure`, `exporters`,
`budget_search`, `reporting`), so no subpackage shadows a public name.

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
    "bench": "edgecomp.api.bench",
    "bench_on_targets": "edgecomp.api.bench",
    "BuildResult": "edgecomp.api.results",
    "BenchResult": "edgecomp.api.results",
    "MultiTargetResult": "edgecomp.api.results",
    "Artifact": "edgecomp.api.results",
    "search": "edgecomp.api.search",
    "SearchResult": "edgecomp.api.search",
    "quantize": "edgecomp.api.stages",
    "export": "edgecomp.api.stages",
    "prune": "edgecomp.api.stages",
    "qat": "edgecomp.api.stages",
    "distill": "edgecomp.api.stages",
}

# Public modules: `edgecomp.report.load(run_dir)`.
_MODULES = {"report": "edgecomp.api.report"}

__all__ = ["__version__", *_API, *_MODULES]


def __getattr__(name: str) -> Any:
    """Loads a public name from `edgecomp.api` on first use, so `import edgecomp` stays light."""
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    else:
        raise AttributeError(f"module 'edgecomp' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API) | set(_MODULES))
