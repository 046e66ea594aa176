"""SshTarget end to end against a real OpenSSH server on 127.0.0.1 (see conftest.sshd).

The "device" is this machine: the remote Python is the test's own interpreter, so the
runner really runs through ssh, and the tests can check the filesystem for leftovers.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgecomp.core.errors import TargetError
from edgecomp.targets.base import LoadStatus
from edgecomp.targets.ssh import SshTarget, remote_command

pytestmark = pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(),
                                reason="/usr/sbin/sshd is missing: install openssh-server (CI does)")


def test_bench_over_ssh_measures_what_the_host_measures(sshd, tiny_tflite, dense_tflite, fmnist_small, sample_npz,
                                                      quick_settings):
    """The same files and the same 200 real Fashion-MNIST test images (sample_npz), benched through ssh
    and on the host: each file's accuracy is the same. The trained tiny CNN and the untrained Dense
    model (int8 input) are far apart, so a file benched under another's name would show."""
    from edgecomp.exporters.parity import run_tflite
    from edgecomp.targets.host import HostTarget

    files = [tiny_tflite["float32"], dense_tflite["int8"]]
    outcomes = SshTarget(sshd.connection(), name="loopback").bench(files, sample_npz, quick_settings)
    on_host = HostTarget().bench(files, sample_npz, quick_settings)
    assert [o.ok for o in outcomes + on_host] == [True] * 4, [o.error for o in outcomes + on_host]
    for outcome, host, artifact in zip(outcomes, on_host, files):
        result = outcome.result
        assert outcome.artifact == artifact
        assert result["accuracy_samples"] == 200
        assert result["accuracy"] == host.result["accuracy"], artifact.name  # same runtime, file, images
        assert 20 <= result["runs"] <= 50 and len(result["latencies_ms"]) == result["runs"]
        assert 0 < result["latency_ms"]["min"] <= result["latency_ms"]["p50"] <= result["latency_ms"]["max"]
        assert result["runtime"]["name"] == "ai_edge_litert"
        assert "temperature_c_before" in outcome.notes and "temperature_c_after" in outcome.notes
    trained, untrained = (o.result["accuracy"] for o in outcomes)
    # The trained file's accuracy, counted here from its own outputs on the same images (1 image of slack:
    # the runner normalises in float64, the dataset in float32).
    predicted = run_tflite(files[0], fmnist_small.images("test", 200)).argmax(-1)
    assert trained == pytest.approx(float(np.mean(predicted == fmnist_small.labels("test", 200))), abs=1 / 200)
    assert trained > 0.5 and untrained < 0.3
    assert outcomes[1].result["io"]["input_dtype"] == "int8"


@pytest.fixture()
def ssh_calls(monkeypatch):
    """Every remote command the adapter runs, with the timeout it gave it (the real ssh still runs)."""
    calls = []
    real_ssh = SshTarget._ssh

    def recording_ssh(self, command, timeout, *args, **kwargs):
        calls.append((command, timeout))
        return real_ssh(self, command, timeout, *args, **kwargs)

    monkeypatch.setattr(SshTarget, "_ssh", recording_ssh)
    return calls


def test_remote_workdir_is_removed_even_when_a_model_fails(sshd, dense_tflite, small_sample, quick_settings,
                                                          tmp_path, ssh_calls):
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"this is not a flatbuffer" * 10)
    target = SshTarget(sshd.connection())
    outcomes = target.bench([corrupt, dense_tflite["float32"]], small_sample, quick_settings)
    bad, good = outcomes
    assert not bad.ok and "runner exited with code" in bad.error
    assert "ValueError" in bad.error  # the remote stderr's last line, e.g. "...not a valid Flatbuffer buffer"
    assert good.ok, good.error  # one bad artifact does not stop the loop
    # mktemp first, rm -rf last, one runner per artifact: the failed one was not retried.
    commands = [command for command, _ in ssh_calls]
    assert commands[0].startswith("mktemp -d") and commands[-1].startswith("rm -rf")
    workdir = commands[-1].split()[-1]
    assert workdir.startswith("/tmp/edgecomp-bench.") and not Path(workdir).exists()
    runs = [(command, timeout) for command, timeout in ssh_calls if "runner.py" in command]
    assert len(runs) == 2
    # Each runner is bounded twice by the configured timeout: `timeout -s KILL` on the device (so a
    # hung model cannot outlive a dropped link) and the local ssh call's own limit.
    limit = int(quick_settings.timeout_s)
    for command, timeout in runs:
        assert f"timeout -s KILL {limit} " in command
        assert timeout == limit + target._connect_timeout()


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


def test_wrong_port_fails_fast_with_a_clear_message(sshd, monkeypatch):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    ssh_runs = []
    real_run = subprocess.run

    def recording_run(argv, *args, **kwargs):
        ssh_runs.append((argv, kwargs.get("timeout")))
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr("edgecomp.targets.ssh.subprocess.run", recording_run)
    target = SshTarget(sshd.connection(port=closed_port, connect_timeout_s=5))
    with pytest.raises(TargetError) as caught:
        target.check()
    # Refused, retried once, reported: two ssh runs, each limited by ConnectTimeout and a local timeout.
    assert len(ssh_runs) == 2
    for argv, timeout in ssh_runs:
        assert argv[0] == "ssh" and "ConnectTimeout=5" in argv and timeout == target._connect_timeout()
    message = str(caught.value)
    assert f"cannot reach {sshd.user}@127.0.0.1:{closed_port}" in message
    assert "Connection refused" in message and "check the host, port" in message.lower()


def test_check_reports_device_facts_and_loads_artifacts(sshd, dense_tflite, tmp_path):
    import platform

    import numpy

    from edgecomp.targets.host import host_facts

    corrupt = tmp_path / "bad.tflite"
    corrupt.write_bytes(b"\x00" * 64)
    target = SshTarget(sshd.connection())
    facts = target.check()
    assert facts["kind"] == "ssh" and facts["cores"] == os.cpu_count() and facts["cpu"]
    assert facts["cpu_features"] == host_facts()["cpu_features"]  # the same machine, read through sshd
    assert facts["python"] == platform.python_version() and facts["numpy"] == numpy.__version__
    assert facts["runtimes"]["ai_edge_litert"] and facts["runtimes"]["onnxruntime"]
    assert target.hints(facts) == []
    good, bad = target.check_loads([dense_tflite["int8"], corrupt])
    assert (good.artifact, good.status, good.runtime) == ("dense_int8.tflite", LoadStatus.LOADS, "ai_edge_litert")
    assert good.io["input_dtype"] == "int8" and good.io["input_shape"] == [1, 28, 28, 1] and good.init_ms > 0
    assert (bad.artifact, bad.status) == ("bad.tflite", LoadStatus.FAILS) and "Error" in bad.detail


def test_hint_names_the_runtime_to_install_when_none_imports(sshd):
    target = SshTarget(sshd.connection(python="/usr/bin/python3"))
    no_runtime = {"runtimes": {"ai_edge_litert": None, "tflite_runtime": None, "onnxruntime": "1.2",
                               "tensorflow": None}}
    assert target.hints(no_runtime) == ["no TFLite runtime imports with /usr/bin/python3 on the device: "
                                        "pip install ai-edge-litert (or tflite-runtime) for that Python"]


def test_a_command_that_outlives_its_timeout_is_a_target_error(sshd):
    # `sleep 20` cannot finish within 1 s: only the timeout can end this call, and it must say so.
    with pytest.raises(TargetError, match=r"did not answer within 1 s \(the command is still running there"):
        SshTarget(sshd.connection())._ssh("sleep 20", timeout=1)


def test_remote_arguments_are_quoted_for_the_remote_shell(sshd, tmp_path):
    marker = tmp_path / "should-not-exist"
    hostile = f"x; touch {marker}"
    proc = SshTarget(sshd.connection())._ssh(remote_command(["echo", hostile, "$HOME"]), timeout=30)
    assert proc.stdout.strip() == f"{hostile} $HOME"
    assert not marker.exists()
