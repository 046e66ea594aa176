"""Reader for the IDX format of (Fashion-)MNIST, gzip-compressed or not."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from edgecomp.core.errors import DatasetError

# The third magic byte gives the element type; MNIST files only use unsigned bytes.
_IDX_DTYPES = {0x08: np.uint8}


def read_idx(path: Path) -> np.ndarray:
    """Reads one IDX file (`*-idx3-ubyte[.gz]` or `*-idx1-ubyte[.gz]`).

    Raises:
        DatasetError: the file is not a valid IDX file.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as err:
        raise DatasetError(f"cannot read IDX file {path}: {err}. Re-download or reinstall it.") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path} is not an IDX file (bad magic number). Re-download it.")
    ndim = raw[3]
    header_end = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header_end])
    expected = int(np.prod(shape))
    data = np.frombuffer(raw, dtype=_IDX_DTYPES[raw[2]], offset=header_end)
    if data.size != expected:
        raise DatasetError(
            f"{path} is truncated: header says {expected} values, file holds {data.size}. Re-download it."
        )
    return data.reshape(shape)
