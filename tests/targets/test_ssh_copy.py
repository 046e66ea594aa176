"""Copying to a board whose sshd has no SFTP subsystem (minimal images, dropbear), against real sshds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edgecomp.core.errors import TargetError
from edgecomp.targets.ssh import SshTarget

pytestmark = pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(),
                                reason="/usr/sbin/sshd is missing: install openssh-server (CI does)")


def test_plain_scp_fails_without_sftp_so_the_fallback_is_needed(sshd_without_sftp, small_sample, tmp_path):
    """The premise: OpenSSH's default scp cannot copy to this server at all."""
    s = sshd_without_sftp
    proc = subprocess.run(["scp", "-q", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={s.known_hosts}",
                           "-i", str(s.client_key), "-P", str(s.port), str(small_sample),
                           f"{s.user}@127.0.0.1:{tmp_path}/"], capture_output=True, text=True)
    assert proc.returncode != 0 and not (tmp_path / small_sample.name).exists()


def test_bench_works_without_sftp_through_legacy_scp(sshd_without_sftp, dense_tflite, small_sample,
                                                     quick_settings):
    target = SshTarget(sshd_without_sftp.connection(), name="no-sftp")
    outcomes = target.bench([dense_tflite["int8"]], small_sample, quick_settings)
    assert outcomes[0].ok, outcomes[0].error
    assert outcomes[0].result["accuracy_samples"] == 20
    assert target._copy_method == 1  # scp -O, remembered for the next copy


def test_tar_stream_copies_files_under_their_names(sshd_without_sftp, dense_tflite, small_sample, tmp_path):
    destination = tmp_path / "remote"
    destination.mkdir()
    target = SshTarget(sshd_without_sftp.connection())
    assert target._copy_tar([dense_tflite["float32"], small_sample], str(destination), timeout=60) is None
    assert (destination / "dense_float32.tflite").read_bytes() == dense_tflite["float32"].read_bytes()
    assert (destination / "sample.npz").read_bytes() == small_sample.read_bytes()


def test_a_reachable_host_that_cannot_take_the_files_says_copying_failed(sshd_without_sftp, small_sample):
    target = SshTarget(sshd_without_sftp.connection())
    with pytest.raises(TargetError) as caught:
        target._scp([small_sample], "/nonexistent-edgecomp-dir", timeout=60)
    message = str(caught.value)
    assert message.startswith(f"copying files to {sshd_without_sftp.user}@127.0.0.1:{sshd_without_sftp.port}"
                              ":/nonexistent-edgecomp-dir failed, although")
    assert "cannot reach" not in message
    assert "scp (SFTP): " in message and "scp -O (legacy protocol): " in message and "tar over ssh: exit" in message


def test_an_unreachable_host_is_still_reported_as_unreachable(sshd, small_sample):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with pytest.raises(TargetError, match="cannot reach .*Connection refused"):
        SshTarget(sshd.connection(port=closed_port))._scp([small_sample], "/tmp", timeout=60)
