"""The content-addressed stage cache: the key of each stage's output, atomic entries, listing and clearing.

Keys form a chain. The first comes from what the model is (a zoo name, or the SHA-256 of a model
file's or folder's bytes), the data (its description and the SHA-256 of every split's pixels and
labels), the seed, the package versions and `FORMAT`; the key of stage i is the hash of the key of
stage i-1, stage i's settings and its position. A stage's output is therefore reused only by a plan
whose whole prefix up to it is the same. TensorFlow-free, so `edgecomp cache list` stays cheap;
`edgecomp.stage_state` saves and restores a run's state into the folders this module publishes.
"""

from __future__ import annotations

import contextvars
import errno
import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from edgecomp.errors import UsageError
from edgecomp.progress import step

# 1: first stage cache (replaces the train stage's models/ cache, whose keys were format 2).
FORMAT = 1
ENTRY_FILE = "entry.json"
PARTIAL_PREFIX = ".partial-"  # a write in progress (or killed): never read, never listed as an entry
_TRASH_PREFIX = ".trash-"
# An unfinished write younger than this may belong to a live process: `clear` leaves it alone.
_PARTIAL_GRACE_SECONDS = 3600
_VERSIONED_PACKAGES = ("tensorflow", "tf_keras", "tensorflow-model-optimization", "edgecomp")


# Off while a `--no-cache` build runs its stages (set by edgecomp.pipeline.run_stages), so
# nothing in them, such as the teacher-logits cache, reads or writes the cache either.
ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("edgecomp_stage_cache_enabled", default=True)


def cache_root() -> Path:
    """$EDGECOMP_CACHE_DIR, or ~/.cache/edgecomp."""
    return Path(os.environ.get("EDGECOMP_CACHE_DIR", Path.home() / ".cache" / "edgecomp"))


def stages_dir() -> Path:
    return cache_root() / "stages"


def package_versions() -> dict:
    """The versions that decide what a stage computes; an upgrade starts a new chain."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in _VERSIONED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    import edgecomp

    found["edgecomp"] = edgecomp.__version__
    found["edgecomp_source"] = edgecomp_source_digest()  # a code change (a loss, a zoo model) starts a new chain
    return found


# Subpackages that run around the stages (the command line, the search driver, reports, targets and
# benchmarking of finished files) and never change what a stage computes: an edit to them keeps the
# cache, so that fixing a report does not retrain the teacher.
_NOT_IN_STAGES = frozenset({"cli", "search", "report", "adapters", "bench"})


@functools.lru_cache(maxsize=1)
def edgecomp_source_digest() -> str:
    """The SHA-256 of the edgecomp source that computes stages (computed once per process)."""
    import edgecomp

    return source_digest(Path(edgecomp.__file__).resolve().parent)


def source_digest(root: Path) -> str:
    """The SHA-256 of every .py file under `root`, except those in the `_NOT_IN_STAGES` subpackages."""
    sha = hashlib.sha256()
    for file in sorted(root.rglob("*.py")):
        relative = file.relative_to(root)
        if relative.parts[0] in _NOT_IN_STAGES:
            continue
        sha.update(str(relative).encode() + b"\0" + file.read_bytes())
    return sha.hexdigest()


def model_fingerprint(model) -> str:
    """SHA-256 of a model's layer types, weight shapes and weight bytes: equal for the same trained
    model however it was obtained (trained now, or restored from the stage cache)."""
    import numpy as np

    sha = hashlib.sha256()
    for layer in model.layers:
        sha.update(type(layer).__name__.encode())
        for weight in layer.get_weights():
            sha.update(str(weight.shape).encode())
            sha.update(memoryview(np.ascontiguousarray(weight)).cast("B"))
    return sha.hexdigest()


def digest(facts) -> str:
    """A 32-hex-digit (128-bit) SHA-256 prefix of the facts as canonical JSON."""
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def model_source_fingerprint(model: str) -> dict:
    """A zoo name as itself; a model file or folder by the SHA-256 of its bytes (and its files' names)."""
    from edgecomp.config import is_model_file

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


def data_fingerprint(data) -> dict:
    """The dataset's description plus the SHA-256 of every split's pixels and labels: two folders
    with the same name but other images never share a key."""
    import numpy as np

    from edgecomp.data.dataset import SPLITS

    sha = hashlib.sha256()
    for split in SPLITS:
        for array in (data.pixels(split), data.labels(split)):
            sha.update(str((array.dtype, array.shape)).encode())
            sha.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    described = {k: v for k, v in data.describe().items() if k != "held_in_memory"}
    return {"describe": described, "content_sha256": sha.hexdigest()}


def settings_for_key(cfg) -> dict:
    """A stage's settings as they decide its output (`cache` says whether to use the cache, not what to compute)."""
    return {k: v for k, v in cfg.model_dump(mode="json").items() if k != "cache"}


def model_preparation(plan) -> dict:
    """What decides how a model file is loaded (edgecomp.models.user_model): whether a later stage
    needs the sub-models inlined, or tf-keras at all. The train stage's output depends on it."""
    from edgecomp.config import is_model_file
    from edgecomp.models.user_model import FLAT_GRAPH_STAGES, PTQ_ONLY_STAGES

    if not is_model_file(plan.model):
        return {}
    names = {stage.stage for stage in plan.stages}
    return {"flat_graph": bool(names & FLAT_GRAPH_STAGES), "tf_keras": not names <= PTQ_ONLY_STAGES}


def chain_keys(plan, data) -> list[str]:
    """The key of each of the plan's stages, in order."""
    key = digest({"format": FORMAT, "model": model_source_fingerprint(plan.model), "data": data_fingerprint(data),
                  "seed": plan.seed, "versions": package_versions(), "preparation": model_preparation(plan)})
    keys = []
    for index, cfg in enumerate(plan.stages, start=1):
        key = digest({"previous": key, "settings": settings_for_key(cfg), "index": index})
        keys.append(key)
    return keys


def entry_dir(key: str) -> Path:
    return stages_dir() / key


def read_entry(key: str) -> Optional[dict]:
    """The entry's entry.json, or None when there is no finished entry under `key`."""
    try:
        return json.loads((entry_dir(key) / ENTRY_FILE).read_text())
    except (OSError, ValueError):
        return None


def publish(key: str, write: Callable[[Path], None]) -> bool:
    """Writes an entry atomically: `write(folder)` fills a temporary folder, which is then renamed.

    A rename is atomic on one file system, so a reader sees either no entry or a whole one. When
    another process published the same key first, the rename fails, this copy is discarded and the
    other one (the same computation, by the key) is kept.

    Returns:
        True when this call's copy became the entry, False when an entry already existed.
    """
    final = entry_dir(key)
    if final.is_dir():
        return False
    stages_dir().mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{key}-", dir=stages_dir()))
    try:
        write(partial)
        try:
            os.rename(partial, final)
        except OSError as err:
            if err.errno in (errno.ENOTEMPTY, errno.EEXIST) and final.is_dir():
                return False  # lost the race: the winner's entry stays
            raise
        return True
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)


ARRAY_FILE = "array.npy"


def cached_array(facts: dict, compute: Callable[[], "object"], stage: str, model: str):
    """A numpy array stored under the key of `facts`, computed by `compute()` on a miss (or when
    the cache is off). Saved without pickles (`allow_pickle=False` both ways), atomically.

    Args:
        facts: everything the array depends on (hashed into the key, with `FORMAT`).
        compute: makes the array.
        stage, model: what `edgecomp cache list` shows for the entry.

    Returns:
        (array, key or None when the cache is off, True when it came from the cache).
    """
    import numpy as np

    if not ENABLED.get():
        return compute(), None, False
    key = digest({"format": FORMAT, "array": facts})
    if read_entry(key) is not None:
        try:
            return np.load(entry_dir(key) / ARRAY_FILE, allow_pickle=False), key, True
        except (OSError, ValueError):
            discard(key)  # damaged: computed again below
    array = compute()

    def write(folder: Path) -> None:
        np.save(folder / ARRAY_FILE, array, allow_pickle=False)
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        (folder / ENTRY_FILE).write_text(json.dumps({"key": key, "stage": stage, "model": model, "created": created,
                                                     "models": {}, "array": facts}, default=str))

    try:
        publish(key, write)
    except OSError as err:  # a full or read-only cache costs the reuse, never the run
        step(f"stage cache not written ({err}); the run goes on without it")
        return array, None, False
    return array, key, False


def discard(key: str) -> int:
    """Removes an entry (renamed away first, so nobody reads it half-deleted); returns the bytes freed."""
    return _remove(entry_dir(key))


def _remove(folder: Path) -> int:
    size = folder_size(folder)
    trash = folder.with_name(f"{_TRASH_PREFIX}{folder.name}-{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.rename(folder, trash)
    except FileNotFoundError:
        return 0  # another process removed it first
    shutil.rmtree(trash, ignore_errors=True)
    return size


def folder_size(folder: Path) -> int:
    try:
        return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    except OSError:
        return 0


@dataclass(frozen=True)
class Entry:
    """One finished cache entry, as `edgecomp cache list` shows it."""

    key: str
    stage: str
    model: str
    created: Optional[datetime]  # UTC; None when entry.json is unreadable
    size_bytes: int
    uses: tuple[str, ...] = ()  # other entries whose models this one needs (edgecomp.stage_state)

    @property
    def age_seconds(self) -> float:
        return (datetime.now(timezone.utc) - self.created).total_seconds() if self.created else float("inf")


def list_entries() -> list[Entry]:
    """Every finished entry, oldest first (unfinished writes are not entries)."""
    entries = []
    folders = sorted(stages_dir().iterdir()) if stages_dir().is_dir() else []
    for folder in folders:
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        facts = read_entry(folder.name) or {}
        created = facts.get("created")
        refs = (facts.get("models") or {}).values()  # [entry key, file] per model slot
        uses = tuple(sorted({ref[0] for ref in refs if ref and ref[0] != folder.name}))
        entries.append(Entry(key=folder.name, stage=facts.get("stage", "unreadable"), model=facts.get("model", "?"),
                             created=datetime.fromisoformat(created) if created else None,
                             size_bytes=folder_size(folder), uses=uses))
    return sorted(entries, key=lambda e: (e.created or datetime.min.replace(tzinfo=timezone.utc), e.key))


def clear_entries(stage: Optional[str] = None, older_than_seconds: Optional[float] = None) -> tuple[int, int]:
    """Removes the entries of `stage` (any when None; "distill" includes its teacher logits) older than `older_than_seconds` (any age when None).

    Entries that need a removed entry's model (a later stage's entry naming the train stage's
    model as the original) could never be restored again, so they go too. Unfinished writes older
    than an hour go as well (a killed process's leftovers).

    Returns:
        (entries removed, bytes freed).
    """
    entries = list_entries()
    doomed = {e.key for e in entries if (stage is None or e.stage.split(" ")[0] == stage)
              and (older_than_seconds is None or e.age_seconds >= older_than_seconds)}
    while True:  # dependents of dependents, until nothing more needs a removed entry
        orphans = {e.key for e in entries if e.key not in doomed and any(k in doomed for k in e.uses)}
        if not orphans:
            break
        doomed |= orphans
    count = freed = 0
    for key in sorted(doomed):
        freed += discard(key)
        count += 1
    now = time.time()
    for folder in (stages_dir().glob(".*") if stages_dir().is_dir() else []):
        if folder.is_dir() and now - folder.stat().st_mtime > _PARTIAL_GRACE_SECONDS:
            freed += folder_size(folder)
            shutil.rmtree(folder, ignore_errors=True)
    return count, freed


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """'90s', '30m', '12h', '7d', '2w' -> seconds.

    Raises:
        UsageError: anything else.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text or "")
    if not match:
        raise UsageError(f"age {text!r} not understood: give a number and a unit, e.g. 30m, 12h, 7d or 2w.")
    return float(match.group(1)) * _AGE_UNITS[match.group(2)]


def human_size(size_bytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.1f} {unit}"
    return f"{size_bytes} B"
