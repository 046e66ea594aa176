"""SshTarget end to end against a real OpenSSH server on 127.0.0.1 (see conftest.sshd).

The "device" is this machine: the remote Python is the test's own interpreter, so the
runner really runs through ssh, and the tests can check the filesystem for leftovers.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from edgecomp.adapters.ssh import SshTarget, remote_command
from edgecomp.errors import TargetError

pytestmark = pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(),
                                reason="/usr/sbin/sshd is missing: install openssh-server (CI does)")


def test_bench_measures_real_tflite_over_ssh(sshd, dense_tflite, small_sample, quick_settings):
    target = SshTarget(sshd.connection(), name="loopback")
    outcomes = target.bench([dense_tflite["float32"], dense_tflite["int8"]], small_sample, quick_settings)
    assert [o.ok for o in outcomes] == [True, True], [o.error for o in outcomes]
    for outcome, artifact in zip(outcomes, [dense_tflite["float32"], dense_tflite["int8"]]):
        result = outcome.result
        assert outcome.artifact == artifact
        assert 20 <= result["runs"] <= 50 and len(result["latencies_ms"]) == result["runs"]
        assert 0 < result["latency_ms"]["min"] <= result["latency_ms"]["p50"] <= result["latency_ms"]["max"]
        assert result["accuracy_samples"] == 20 and 0.0 <= result["accuracy"] <= 1.0
        assert result["runtime"]["name"] == "ai_edge_litert"
        assert "temperature_c_before" in outcome.extra and "temperature_c_after" in outcome.extra
    assert outcomes[1].result["io"]["input_dtype"] == "int8"


def test_remote_workdir_is_removed_even_when_a_model_fails(sshd, dense_tflite, small_sample, quick_settings,
                                                          tmp_path, monkeypatch):
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"this is not a flatbuffer" * 10)
    created = []
    original_enter = __import__("edgecomp.adapters.ssh", fromlist=["_RemoteWorkdir"])._RemoteWorkdir.__enter__

    def spy_enter(self):
        created.append(original_enter(self))
        return created[-1]

    monkeypatch.setattr("edgecomp.adapters.ssh._RemoteWorkdir.__enter__", spy_enter)
    started = time.monotonic()
    outcomes = SshTarget(sshd.connection()).bench([corrupt, dense_tflite["float32"]], small_sample, quick_settings)
    assert time.monotonic() - started < 60
    bad, good = outcomes
    assert not bad.ok and "runner exited with code" in bad.error
    assert "ValueError" in bad.error  # the remote stderr's last line, e.g. "...not a valid Flatbuffer buffer"
    assert good.ok, good.error  # one bad artifact does not stop the loop
    assert len(created) == 1 and created[0].startswith("/tmp/edgecomp-bench.")
    assert not Path(created[0]).exists()


def test_unknown_host_key_is_refused_with_instructions(sshd, tmp_path):
    empty_known_hosts = tmp_path / "known_hosts"
    empty_known_hosts.write_text("")
    target = SshTarget(sshd.connection(known_hosts=str(empty_known_hosts)))
    with pytest.raises(TargetError) as caught:
        target.check()
    message = str(caught.value)
    assert "host key" in message and "ssh-keyscan" in message and "accept_new_host_key" in message
    assert empty_known_hosts.read_text() == ""  # nothing was trusted behind the user's back


def test_accept_new_host_key_trusts_on_first_use_only(sshd, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    target = SshTarget(sshd.connection(known_hosts=str(known_hosts), accept_new_host_key=True))
    facts = target.check()
    assert facts["python"] and facts["numpy"]
    server_key = (sshd.folder / "host_key.pub").read_text().split()[1]
    assert server_key in known_hosts.read_text()  # recorded (hostname may be hashed: HashKnownHosts)
    assert "StrictHostKeyChecking=accept-new" in target._options()
    assert "StrictHostKeyChecking=no" not in target._options()


def test_wrong_port_fails_fast_with_a_clear_message(sshd):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(TargetError) as caught:
        SshTarget(sshd.connection(port=closed_port)).check()
    assert time.monotonic() - started < 20  # refused, retried once, reported: no long hang
    message = str(caught.value)
    assert f"cannot reach {sshd.user}@127.0.0.1:{closed_port}" in message
    assert "Connection refused" in message and "check the host, port" in message.lower()


def test_check_reports_device_facts_and_loads_artifacts(sshd, dense_tflite, tmp_path):
    corrupt = tmp_path / "bad.tflite"
    corrupt.write_bytes(b"\x00" * 64)
    facts = SshTarget(sshd.connection()).check(artifacts=[dense_tflite["int8"], corrupt])
    assert facts["kind"] == "ssh" and int(facts["cores"]) >= 1 and facts["cpu"]
    assert facts["python"].count(".") == 2 and facts["numpy"]
    assert facts["runtimes"]["ai_edge_litert"] and facts["runtimes"]["onnxruntime"]
    assert facts["artifacts"]["dense_int8.tflite"]["ok"] is True
    assert facts["artifacts"]["dense_int8.tflite"]["io"]["input_dtype"] == "int8"
    assert facts["artifacts"]["bad.tflite"]["ok"] is False and facts["artifacts"]["bad.tflite"]["error"]


def test_remote_arguments_are_quoted_for_the_remote_shell(sshd, tmp_path):
    marker = tmp_path / "should-not-exist"
    hostile = f"x; touch {marker}"
    proc = SshTarget(sshd.connection())._ssh(remote_command(["echo", hostile, "$HOME"]), timeout=30)
    assert proc.stdout.strip() == f"{hostile} $HOME"
    assert not marker.exists()
