"""The stage cache's keys: what each stage's output depends on (the store itself is `edgecomp.core.cache_store`).

Keys form a chain. The first comes from what the model is (a zoo name, or the SHA-256 of a model
file's or folder's bytes), the data (its description and the SHA-256 of every split's pixels and
labels), the seed, the package versions and `FORMAT`; the key of stage i is the hash of the key of
stage i-1, stage i's settings and its position. A stage's output is therefore reused only by a plan
whose whole prefix up to it is the same. TensorFlow-free, so `edgecomp cache list` stays cheap;
`edgecomp.run.stage_state` saves and restores a run's state into the folders this module publishes.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from edgecomp.core.cache_store import FORMAT, digest
from edgecomp.core.version import __version__
from edgecomp.data.dataset import data_fingerprint
from edgecomp.models.user_model import FLAT_GRAPH_STAGES, PTQ_ONLY_STAGES
from edgecomp.plan.plan import is_model_file

_VERSIONED_PACKAGES = ("tensorflow", "tf_keras", "tensorflow-model-optimization", "edgecomp")


def package_versions() -> dict:
    """The versions that decide what a stage computes; an upgrade starts a new chain."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in _VERSIONED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    found["edgecomp"] = __version__
    found["edgecomp_source"] = edgecomp_source_digest()  # a code change (a loss, a zoo model) starts a new chain
    return found

# Subpackages that run around the stages (the command line, the search driver, reports, targets and
# benchmarking of finished files) and never change what a stage computes: an edit to them keeps the
# cache, so that fixing a report does not retrain the teacher.
_NOT_IN_STAGES = frozenset({"cli", "api", "budget_search", "reporting", "targets", "measure"})


@functools.lru_cache(maxsize=1)
def edgecomp_source_digest() -> str:
    """The SHA-256 of the edgecomp source that computes stages (computed once per process)."""
    return source_digest(Path(__file__).resolve().parents[1])

def source_digest(root: Path) -> str:
    """The SHA-256 of every .py file under `root`, except those in the `_NOT_IN_STAGES` subpackages."""
    sha = hashlib.sha256()
    for file in sorted(root.rglob("*.py")):
        relative = file.relative_to(root)
        if relative.parts[0] in _NOT_IN_STAGES:
            continue
        sha.update(str(relative).encode() + b"\0" + file.read_bytes())
    return sha.hexdigest()

def model_source_fingerprint(model: str) -> dict:
    """A zoo name as itself; a model file or folder by the SHA-256 of its bytes (and its files' names)."""

    if not is_model_file(model):
        return {"zoo": model}
    path = Path(model).expanduser()
    if not path.exists():
        return {"missing": str(path)}  # the train stage reports it; no entry can match a missing file
    sha = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        sha.update(str(file.relative_to(path) if file != path else file.name).encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
    return {"sha256": sha.hexdigest()}

def settings_for_key(cfg) -> dict:
    """A stage's settings as they decide its output (`cache` says whether to use the cache, not what to compute)."""
    return {k: v for k, v in cfg.model_dump(mode="json").items() if k != "cache"}

def model_preparation(plan) -> dict:
    """What decides how a model file is loaded (edgecomp.models.user_model): whether a later stage
    needs the sub-models inlined, or tf-keras at all. The train stage's output depends on it."""

    if not is_model_file(plan.model):
        return {}
    names = {stage.stage for stage in plan.stages}
    return {"flat_graph": bool(names & FLAT_GRAPH_STAGES), "tf_keras": not names <= PTQ_ONLY_STAGES}

def chain_keys(plan, data) -> list[str]:
    """The key of each of the plan's stages, in order."""
    # A time budget may shorten any training stage (edgecomp.compress.time_budget), by a share that
    # depends on the stages after it too: such a plan's stages are its own.
    budget = ({"time_budget": plan.time_budget, "stages": [settings_for_key(cfg) for cfg in plan.stages]}
              if plan.time_budget else {})
    key = digest({"format": FORMAT, "model": model_source_fingerprint(plan.model), "data": data_fingerprint(data),
                  "seed": plan.seed, "versions": package_versions(), "preparation": model_preparation(plan), **budget})
    keys = []
    for index, cfg in enumerate(plan.stages, start=1):
        key = digest({"previous": key, "settings": settings_for_key(cfg), "index": index})
        keys.append(key)
    return keys
