"""Keras' own dataset loaders (they download into `~/.keras/datasets`), with their failures told apart.

Three failures need three different fixes: no network (connect, or put the files where edgecomp
looks), a damaged file in Keras' cache (delete that file: Keras never re-checks a file it does not
hash), and a cached file Keras found damaged by its checksum and deleted before failing to download
it again. Anything else is raised as it came, with its traceback.
"""

from __future__ import annotations

import gzip
import http.client
import io
import os
import pickle
import tarfile
import traceback
import urllib.error
import zipfile
from pathlib import Path

import numpy as np

from edgecomp.core.errors import DatasetError, first_line
from edgecomp.core.tfenv import keras
from edgecomp.data.raw import RawSplits

# What Keras' urllib download raises offline; Keras re-raises it as a bare Exception("URL fetch
# failure ..."), keeping the original as its __context__.
NETWORK_ERRORS = (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException)
# What reading a truncated or damaged cached file raises: gzip (fashion_mnist), np.load (mnist.npz),
# pickle (cifar batches), tarfile (cifar archives).
DAMAGED_FILE_ERRORS = (EOFError, gzip.BadGzipFile, zipfile.BadZipFile, pickle.UnpicklingError,
                       tarfile.ReadError, ValueError)


def keras_cache_dir() -> Path:
    """Where tf-keras' `get_file` keeps datasets (it reads no KERAS_HOME: always ~/.keras)."""
    return Path.home() / ".keras" / "datasets"

def load_with_keras(loader: str, class_names: list[str], subdir: str) -> RawSplits:
    """Runs `keras.datasets.<loader>.load_data()`; offline or on a damaged cache it says which and what to do."""
    cache = keras_cache_dir()
    cached_before = _files_under(cache)
    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras().datasets, loader).load_data()
    except Exception as err:  # told apart below; any other kind is re-raised unchanged
        diagnosis = _diagnose(err, subdir, cache, removed=sorted(cached_before - _files_under(cache)))
        if diagnosis is None:
            raise
        raise diagnosis from err
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    return RawSplits(x_train, y_train.reshape(-1).astype(np.int64), x_test,
                     y_test.reshape(-1).astype(np.int64), class_names, f"keras.datasets.{loader}")

def _diagnose(err: Exception, subdir: str, cache: Path, removed: list[Path]) -> DatasetError | None:
    debian = " or `apt-get install dataset-fashion-mnist`" if subdir == "fashion-mnist" else ""
    elsewhere = (f"Put the files in $EDGECOMP_DATA_DIR/{subdir} or ~/.keras/datasets/{subdir}{debian}, "
                 "or pass --dataset path/to/data.npz or an image folder.")
    if _is_network_failure(err):
        if removed:  # get_file found a copy whose hash did not match, deleted it, then could not download
            return DatasetError(
                f"Keras' cached copy of dataset {subdir!r} ({', '.join(map(str, removed))}) did not match its "
                f"checksum (a partial or damaged download), so Keras deleted it, and it could not download it "
                f"again: no network ({first_line(err)}). Connect and run again, or: {elsewhere}")
        return DatasetError(f"dataset {subdir!r} is not on this machine and Keras could not download it: no "
                            f"network ({first_line(err)}). {elsewhere}")
    if isinstance(err, DAMAGED_FILE_ERRORS):
        damaged = _cached_file_being_read(err, cache)
        where = f"the cached file {damaged}" if damaged else f"a file under {cache}"
        return DatasetError(
            f"dataset {subdir!r}: {where} is damaged or partly downloaded ({type(err).__name__}: "
            f"{first_line(err)}). Delete {damaged or 'it'} and run again: Keras downloads it anew.")
    return None

def _is_network_failure(err: BaseException) -> bool:
    """True when `err` or an error it was raised from or while handling is a download failure."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, NETWORK_ERRORS):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False

def _cached_file_being_read(err: BaseException, cache: Path) -> Path | None:
    """The file under `cache` that the innermost frame of `err`'s traceback holds open or a path to:
    the one gzip, np.load or pickle was reading. None when no frame names one."""
    frames = [frame for frame, _ in traceback.walk_tb(err.__traceback__)]
    for frame in reversed(frames):
        for value in frame.f_locals.values():
            if isinstance(value, io.IOBase):  # an open file (GzipFile, BufferedReader) knows its name
                value = getattr(value, "name", None)
            if isinstance(value, (str, os.PathLike)) and _is_file_under(value, cache):
                return Path(value)
    return None

def _is_file_under(value, folder: Path) -> bool:
    try:
        path = Path(value).resolve()
        return path.is_file() and folder.resolve() in path.parents
    except (OSError, ValueError):  # a string that is no path (too long, a NUL byte)
        return False

def _files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()} if folder.is_dir() else set()
