"""Fixtures for the target adapters: a real sshd on 127.0.0.1, tiny real .tflite files, a sample.

The sshd runs with its own config, host key, authorized_keys and pid file in a temporary folder;
nothing of the machine's own SSH setup is read or changed. It is the same machine, so the tests
can look at the filesystem to see what the adapter left behind.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

SSHD = Path("/usr/sbin/sshd")
needs_sshd = pytest.mark.skipif(not SSHD.exists(), reason="/usr/sbin/sshd is missing: install openssh-server "
                                                         "(CI does) to run the SSH adapter end to end")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Sshd:
    port: int
    user: str
    client_key: Path
    known_hosts: Path
    folder: Path

    def connection(self, **changes):
        """An SshConnection to this server whose remote Python is the test's own interpreter."""
        from edgecomp.targets.profiles import SshConnection

        settings = dict(host="127.0.0.1", user=self.user, port=self.port, key_file=str(self.client_key),
                        known_hosts=str(self.known_hosts), connect_timeout_s=5, python=sys.executable)
        settings.update(changes)
        return SshConnection(**settings)


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgecomp-test", "-f", str(path)],
                   check=True, capture_output=True)


@contextlib.contextmanager
def running_sshd(folder: Path, *, sftp: bool = True, extra_config: Sequence[str] = ()):
    """A real OpenSSH server on a free loopback port, accepting one generated client key.

    Args:
        folder: Where its config, keys, pid file and log go.
        sftp: Offer the SFTP subsystem (minimal images and dropbear boards do not).
        extra_config: More sshd_config lines (e.g. SetEnv PATH=...).
    """
    if not SSHD.exists():
        pytest.skip("/usr/sbin/sshd is missing: install openssh-server to run the SSH adapter tests")
    _keygen(folder / "host_key")
    _keygen(folder / "client_key")
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    port = free_port()
    config = folder / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {folder / 'host_key'}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}", "StrictModes no", f"PidFile {folder / 'sshd.pid'}",
        "UsePAM no", "PermitRootLogin prohibit-password", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", *(["Subsystem sftp internal-sftp"] if sftp else []), *extra_config,
        "LogLevel ERROR", ""]))
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege-separation folder sshd insists on
    log = open(folder / "sshd.log", "w")
    server = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"sshd did not start: {(folder / 'sshd.log').read_text()[-500:]}")
            time.sleep(0.05)
    key_type, key_body = (folder / "host_key.pub").read_text().split()[:2]
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {key_type} {key_body}\n")
    try:
        yield Sshd(port=port, user=getpass.getuser(), client_key=folder / "client_key",
                   known_hosts=known_hosts, folder=folder)
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def start_sshd():
    """`running_sshd` itself, for tests that need a server with a config of their own."""
    return running_sshd


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """A real OpenSSH server on loopback with SFTP, like Raspberry Pi OS's."""
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(scope="session")
def sshd_without_sftp(tmp_path_factory):
    """A real OpenSSH server on loopback without the SFTP subsystem, like a minimal or dropbear image."""
    with running_sshd(tmp_path_factory.mktemp("sshd-nosftp"), sftp=False) as server:
        yield server


@pytest.fixture(scope="session")
def dense_tflite(tmp_path_factory):
    """float32 and int8 .tflite files of a tiny Dense model on 28x28x1, converted by this TensorFlow."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([tf_keras.layers.Input((28, 28, 1)), tf_keras.layers.Flatten(),
                                 tf_keras.layers.Dense(16, activation="relu"), tf_keras.layers.Dense(10)])
    folder = tmp_path_factory.mktemp("dense")
    float_path = folder / "dense_float32.tflite"
    float_path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())

    calibration = np.random.default_rng(0).random((20, 28, 28, 1), dtype=np.float32)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None]] for image in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    int8_path = folder / "dense_int8.tflite"
    int8_path.write_bytes(converter.convert())
    return {"float32": float_path, "int8": int8_path}


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory) -> Path:
    """sample.npz as the runner reads it: 20 images x (28, 28, 1) float32 and int labels."""
    rng = np.random.default_rng(1)
    path = tmp_path_factory.mktemp("sample") / "sample.npz"
    np.savez(path, x=rng.random((20, 28, 28, 1), dtype=np.float32), y=rng.integers(0, 10, 20))
    return path


@pytest.fixture()
def quick_settings():
    """Few runs: these tests check the plumbing and that numbers are measured, not their values."""
    from edgecomp.plan.plan import BenchConfig

    return BenchConfig(threads=1, warmup=2, min_runs=20, min_time_s=0.0, max_runs=50, timeout_s=120)


def _module_beside(name: str):
    """A helper module in this folder (the suite imports by path: --import-mode=importlib)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"edgecomp_tests_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STAND_IN_PROPERTIES = {"ro.product.model": "Loopback stand-in", "ro.product.name": "standin",
                       "ro.product.device": "standin", "ro.board.platform": "x86_64-host",
                       "ro.product.cpu.abi": "arm64-v8a", "ro.build.version.release": "14"}


@pytest.fixture()
def stand_in_device(tmp_path, monkeypatch):
    """The real adb server on a private port, connected to a loopback stand-in device (adb_device.py);
    both stopped afterwards. Only the server this fixture started is killed (its own port)."""
    import shutil

    if shutil.which("adb") is None:
        pytest.skip("the adb binary is missing: install Debian's 'adb' package (CI does)")
    adb_device = _module_beside("adb_device")
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(free_port()))
    device = adb_device.AdbDevice(tmp_path / "device", STAND_IN_PROPERTIES)
    try:
        adb_device.adb_connect(device)
        yield device
    finally:
        subprocess.run(["adb", "kill-server"], capture_output=True, timeout=30)
        device.close()
