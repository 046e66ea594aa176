"""File helpers every layer shares: atomic writes and size figures."""

from __future__ import annotations

import gzip
import os
from pathlib import Path


def write_bytes_atomically(path: Path, data: bytes) -> Path:
    """Writes `data` to a temporary name then renames, so no half-written file looks complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def gzip_size(path: Path) -> int:
    """Size of the file after gzip -9: what the zeros of a pruned model save over the wire."""
    return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))
