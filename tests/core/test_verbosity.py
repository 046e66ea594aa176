"""quiet_third_party: what C/C++ code writes to file descriptors 1 and 2, and third-party Python
warnings, go to the log; edgecomp's own console and warnings still reach the user; --verbose
lets everything through."""

import ctypes
import os
import warnings

import pytest

from edgecomp.core import verbosity
from edgecomp.core.progress import console, step


def native_noise() -> None:
    """Writes as TensorFlow's C++ does: straight to the descriptors, and through C's buffered printf."""
    os.write(2, b"E0000 00:00:1.0 cuda_platform.cc:52] failed call to cuInit\n")
    os.write(1, b"fully_quantize: 0, inference_type: 6\n")
    libc = ctypes.CDLL(None)
    libc.printf(b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")  # buffered until fflush
    warnings.warn_explicit("Statistics for quantized inputs were expected", UserWarning,
                           "/site-packages/tensorflow/lite/python/convert.py", 846, module="tensorflow.lite")


@pytest.fixture
def quiet(monkeypatch):
    monkeypatch.setenv(verbosity.VERBOSE_ENV, "0")


def test_native_output_and_third_party_warnings_go_to_the_log(quiet, tmp_path, capfd):
    log = tmp_path / "third_party.log"
    with verbosity.quiet_third_party(log):
        native_noise()
        step("exporting model_int8.tflite")
    out, err = capfd.readouterr()
    assert "cuInit" not in out + err and "fully_quantize" not in out + err
    assert "XNNPACK" not in out + err and "UserWarning" not in out + err
    assert "exporting model_int8.tflite" in err  # edgecomp's own progress still shows
    text = log.read_text()
    for expected in ("cuInit", "fully_quantize", "XNNPACK", "UserWarning: Statistics"):
        assert expected in text


def test_edgecomp_warnings_still_show(quiet, tmp_path, capfd):
    with verbosity.quiet_third_party(tmp_path / "log"):
        warnings.warn_explicit("a setting was adjusted", UserWarning, f"{os.sep}edgecomp{os.sep}plan.py", 1)
    assert "a setting was adjusted" in capfd.readouterr().err


def test_descriptors_and_console_are_restored(quiet, tmp_path, capfd):
    with verbosity.quiet_third_party(tmp_path / "log"):
        pass
    os.write(2, b"after the capture\n")
    console.print("console after the capture")
    err = capfd.readouterr().err
    assert "after the capture" in err and "console after the capture" in err
    assert not (tmp_path / "log").exists()  # nothing captured: no empty log


def test_unexpected_error_shows_the_last_captured_lines(quiet, capfd):
    with pytest.raises(RuntimeError), verbosity.quiet_third_party():
        os.write(2, b"F0000 check failed: the reason\n")
        raise RuntimeError("converter crashed")
    assert "F0000 check failed: the reason" in capfd.readouterr().err


def test_verbose_lets_everything_through(monkeypatch, tmp_path, capfd):
    monkeypatch.setenv(verbosity.VERBOSE_ENV, "1")
    with verbosity.quiet_third_party(tmp_path / "log"):
        native_noise()
    ctypes.CDLL(None).fflush(None)
    out, err = capfd.readouterr()
    assert "cuInit" in err and "fully_quantize" in out and "XNNPACK" in out  # (pytest itself records warnings)


def test_a_nested_capture_leaves_everything_to_the_outer_one(quiet, tmp_path, capfd):
    with verbosity.quiet_third_party(tmp_path / "outer.log"), verbosity.quiet_third_party(tmp_path / "inner.log"):
        os.write(2, b"W0000 from a library imported inside the build\n")
    assert "W0000" not in capfd.readouterr().err
    assert "W0000" in (tmp_path / "outer.log").read_text() and not (tmp_path / "inner.log").exists()
