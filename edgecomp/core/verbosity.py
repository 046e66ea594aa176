"""How much third-party libraries print: quiet by default, everything with `--verbose`.

TensorFlow's C++ start-up lines (`E0000 ... failed call to cuInit` on a machine without a GPU),
absl, the TFLite converter (`fully_quantize: 0, ...`), LiteRT (`Created TensorFlow Lite XNNPACK
delegate`) and the UserWarnings of third-party Python code hide edgecomp's own progress, and a
first-time user reads them as failures. Many are written by C++ straight to file descriptor 2
before any setting is read, so the only way to keep them off the console is `quiet_third_party`:
file descriptors 1 and 2 point to a log file while edgecomp calls into those libraries, and
edgecomp's own console (`USER_STDERR`) keeps writing to the terminal. `--verbose` lets everything
through, and forwards each runner's stderr.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Optional, TextIO

from edgecomp.core.errors import EdgecompError

VERBOSE_ENV = "EDGECOMP_VERBOSE"
THIRD_PARTY_LOGGERS = ("absl", "tensorflow", "tf2onnx", "onnxruntime", "h5py", "keras", "tf_keras")
THIRD_PARTY_LOG = "third_party.log"  # in the run folder: what a quiet run kept off the console
REPLAYED_LINES = 20  # on an unexpected error, the last captured lines are shown (they may explain it)

# Process-wide, as file descriptors are: the stream edgecomp's console writes to during a capture,
# and the lock held while one is active (a nested or concurrent one does nothing: the first catches all).
_state = SimpleNamespace(user_stream=None)
_capture_lock = threading.Lock()


def set_verbose(verbose: bool) -> None:
    """Quiet (False) or let through (True) third-party logging, here and in runner subprocesses."""
    os.environ[VERBOSE_ENV] = "1" if verbose else "0"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if verbose else "2"
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)


def is_verbose() -> bool:
    return os.environ.get(VERBOSE_ENV) == "1"


def runner_environment() -> dict:
    """The environment of a runner subprocess: TensorFlow's C++ logging quiet unless verbose."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0" if is_verbose() else "2")


def user_stream() -> TextIO:
    """Where edgecomp's own messages go: the terminal (or notebook), also while a capture is active."""
    return _state.user_stream or sys.stderr


class _UserStderr(io.TextIOBase):
    """A file for rich's Console that always writes to `user_stream()` (resolved at each write)."""

    def write(self, text: str) -> int:
        return user_stream().write(text)

    def flush(self) -> None:
        user_stream().flush()

    def isatty(self) -> bool:
        stream = user_stream()
        return bool(getattr(stream, "isatty", lambda: False)())

    def fileno(self) -> int:
        return user_stream().fileno()

    @property
    def encoding(self) -> str:
        return getattr(user_stream(), "encoding", None) or "utf-8"


USER_STDERR = _UserStderr()


def _flush_c_stdio() -> None:
    """Flushes C's stdio buffers (printf output still in memory) into the current descriptors."""
    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(None).fflush(None)


def _backed_by_fd(stream, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


def _quiet_loggers() -> dict:
    """Third-party Python loggers set to ERROR; returns their previous levels."""
    previous = {}
    for name in THIRD_PARTY_LOGGERS:
        logger = logging.getLogger(name)
        previous[name] = logger.level
        logger.setLevel(max(logger.level, logging.ERROR))
    return previous


def _restore_loggers(previous: dict) -> None:
    for name, level in previous.items():
        logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def _descriptors_redirected(sink, user: TextIO) -> Iterator[None]:
    """fds 1 and 2 point to `sink` inside; edgecomp's console writes to `user` (the real stderr)."""
    sys.stdout.flush()
    sys.stderr.flush()
    _flush_c_stdio()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    if _backed_by_fd(sys.stderr, 2):  # a terminal or a file: write to the saved descriptor
        user = io.TextIOWrapper(os.fdopen(os.dup(saved[2]), "wb", buffering=0), encoding="utf-8",
                                errors="replace", line_buffering=True, write_through=True)
    _state.user_stream = user
    try:
        for fd in (1, 2):
            os.dup2(sink.fileno(), fd)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        _flush_c_stdio()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        _state.user_stream = None
        if user is not sys.stderr:
            user.close()


@contextlib.contextmanager
def quiet_third_party(log_path: Optional[Path] = None) -> Iterator[None]:
    """Keeps third-party output off the console while edgecomp calls TensorFlow, the converters and
    the runtimes; does nothing with `--verbose` (or when a capture is already active, in any thread).

    Inside: file descriptors 1 and 2 go to a temporary file (C++ logging, the converter's prints,
    subprocesses that inherit them), and so do third-party Python warnings (edgecomp's own still
    show); third-party loggers are at ERROR. edgecomp's console keeps writing to the terminal.

    Args:
        log_path: where the captured output is written at the end (nothing is written when there
            was none); None discards it.

    Raises:
        Whatever the body raises; on an error that is not an EdgecompError the last captured lines
        are shown first (or the log's path), since they may explain it.
    """
    if is_verbose() or not _capture_lock.acquire(blocking=False):
        yield
        return
    try:
        with tempfile.TemporaryFile() as sink, warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            previous_levels = _quiet_loggers()
            try:
                with _descriptors_redirected(sink, sys.stderr):
                    yield
            except BaseException as err:
                _report_captured_on_error(err, sink, log_path)
                raise
            finally:
                _restore_loggers(previous_levels)
                _save_captured(sink, log_path)
    finally:
        _capture_lock.release()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python warnings while captured: edgecomp's own to the console, third parties' to the log
    (fd 2, the capture file, also in Jupyter where sys.stderr is not fd 2)."""
    text = warnings.formatwarning(message, category, filename, lineno, line)
    if f"{os.sep}edgecomp{os.sep}" in filename:
        user_stream().write(text)
    else:
        os.write(2, text.encode("utf-8", errors="replace"))


def _captured_text(sink) -> str:
    sink.flush()
    sink.seek(0)
    return sink.read().decode("utf-8", errors="replace")


def _save_captured(sink, log_path: Optional[Path]) -> None:
    text = _captured_text(sink)
    if log_path is not None and text:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(text)


def _report_captured_on_error(err: BaseException, sink, log_path: Optional[Path]) -> None:
    text = _captured_text(sink)
    if not text.strip() or isinstance(err, (EdgecompError, KeyboardInterrupt)):
        return  # edgecomp's own errors say what is wrong in one line
    if log_path is not None:
        sys.stderr.write(f"third-party output of this run (may explain the error): {log_path}\n")
        return
    lines = text.rstrip().splitlines()[-REPLAYED_LINES:]
    sys.stderr.write("last third-party output before the error:\n" + "\n".join(lines) + "\n")
