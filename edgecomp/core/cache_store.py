"""The content-addressed cache store: atomic entries under $EDGECOMP_CACHE_DIR, cached arrays, listing
and clearing, and the fingerprints that key them.

TensorFlow-free, so `edgecomp cache list` stays cheap. What a stage's key is made of (the chain of a
plan's stages) is `edgecomp.run.stage_cache`; `edgecomp.run.stage_state` saves and restores a run's
state into the folders this module publishes. The distiller's teacher-logits cache uses
`cached_array` directly, which is why the store sits below the stages.
"""

from __future__ import annotations

import contextvars
import errno
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

from edgecomp.core.errors import UsageError
from edgecomp.core.progress import step

# 1: first stage cache (replaces the train stage's models/ cache, whose keys were format 2).
# 3: the train stage takes a user model's softmax head off and leaves its augmentation layers out (not 2,
#    the old cache's).
FORMAT = 3


ENTRY_FILE = "entry.json"


PARTIAL_PREFIX = ".partial-"  # a write in progress (or killed): never read, never listed as an entry


_TRASH_PREFIX = ".trash-"


# An unfinished write younger than this may belong to a live process: `clear` leaves it alone.
_PARTIAL_GRACE_SECONDS = 3600


# Off while a `--no-cache` build runs its stages (set by edgecomp.run.pipeline.run_stages), so
# nothing in them, such as the teacher-logits cache, reads or writes the cache either.
ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("edgecomp_stage_cache_enabled", default=True)


def cache_root() -> Path:
    """$EDGECOMP_CACHE_DIR, or ~/.cache/edgecomp."""
    return Path(os.environ.get("EDGECOMP_CACHE_DIR", Path.home() / ".cache" / "edgecomp"))


def stages_dir() -> Path:
    return cache_root() / "stages"


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
    uses: tuple[str, ...] = ()  # other entries whose models this one needs (edgecomp.run.stage_state)

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
