"""`edgecomp targets setup`: LiteRT's benchmark_model downloaded, verified and cached, against a loopback server.

Nothing downloads from the internet here: EDGECOMP_LITERT_BINARIES_URL points the download at an
HTTP server on 127.0.0.1 that serves files laid out like LiteRT's published folder
({version}/{platform}/benchmark_model). The cache and HOME (where LiteRT CLI keeps its cache) are
temporary folders.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from edgecomp.cli.main import app

VERSION = "2.3.0"
BINARY = b"\x7fELF" + bytes(range(256)) * 40  # what the server hands out as android_arm64 benchmark_model


class Server:
    """Serves `files` ({url path: bytes}); `short` paths announce more bytes than they send."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.short: set[str] = set()
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) + (1000 if self.path in server.short else 0)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server(tmp_path, monkeypatch):
    served = Server()
    served.files[f"/{VERSION}/android_arm64/benchmark_model"] = BINARY
    monkeypatch.setenv("EDGECOMP_LITERT_BINARIES_URL", served.url)
    monkeypatch.setenv("EDGECOMP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    yield served
    served.close()


@pytest.fixture()
def phone(tmp_path) -> Path:
    path = tmp_path / "phone.yaml"
    path.write_text(yaml.safe_dump({"name": "phone", "kind": "adb", "adb": {}}))
    return path


def setup(profile: Path, *flags: str):
    return CliRunner().invoke(app, ["targets", "setup", str(profile), "--version", VERSION, *flags])


def cached(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "binaries" / VERSION / "android_arm64" / "benchmark_model"


def test_setup_downloads_verifies_and_caches_then_works_offline(server, phone, tmp_path):
    result = setup(phone)
    assert result.exit_code == 0, result.output
    sha256 = hashlib.sha256(BINARY).hexdigest()
    assert f"benchmark_model {VERSION} for android_arm64 (download)" in result.output and sha256 in result.output
    binary = cached(tmp_path)
    assert binary.read_bytes() == BINARY and binary.stat().st_mode & 0o111
    record = json.loads(binary.with_name("benchmark_model.json").read_text())
    assert record == {"url": f"{server.url}/{VERSION}/android_arm64/benchmark_model", "size": len(BINARY),
                      "sha256": sha256}
    server.close()  # offline from now on: the cache answers
    again = setup(phone)
    assert again.exit_code == 0 and "(edgecomp cache)" in again.output
    assert len(server.requests) == 1


def test_a_download_that_differs_from_the_recorded_checksum_is_refused(server, phone, tmp_path):
    assert setup(phone).exit_code == 0
    server.files[f"/{VERSION}/android_arm64/benchmark_model"] = BINARY[:-1] + b"\x00"  # same size, other bytes
    result = setup(phone, "--force")
    assert result.exit_code != 0
    assert "refused the benchmark_model downloaded from" in result.output and "differs from the one recorded" in \
        result.output
    assert cached(tmp_path).read_bytes() == BINARY  # the verified file is kept


def test_a_cached_binary_changed_on_disk_is_refused(server, phone, tmp_path):
    assert setup(phone).exit_code == 0
    cached(tmp_path).write_bytes(BINARY[::-1])
    result = setup(phone)
    assert result.exit_code != 0 and "no longer matches the size and SHA-256 recorded" in result.output


def test_a_truncated_download_is_refused_and_nothing_is_cached(server, phone, tmp_path):
    server.short.add(f"/{VERSION}/android_arm64/benchmark_model")
    result = setup(phone)
    assert result.exit_code != 0 and f"stopped at {len(BINARY)} of {len(BINARY) + 1000} bytes" in result.output
    assert list(cached(tmp_path).parent.iterdir()) == []


def test_offline_the_error_names_the_url_and_the_profile_key(server, phone, monkeypatch):
    server.close()
    url = f"{server.url}/{VERSION}/android_arm64/benchmark_model"
    result = setup(phone)
    assert result.exit_code != 0
    output = " ".join(result.output.split())  # the console may wrap the message
    assert url in output and "offline?" in output and "`adb.benchmark_model:`" in output


def test_the_profiles_own_binary_wins_and_nothing_is_downloaded(server, tmp_path):
    own = tmp_path / "my_benchmark_model"
    own.write_bytes(b"built by the user")
    profile = tmp_path / "phone.yaml"
    profile.write_text(yaml.safe_dump({"name": "phone", "kind": "adb", "adb": {"benchmark_model": str(own)}}))
    result = setup(profile)
    assert result.exit_code == 0 and "(profile)" in result.output and server.requests == []


def test_litert_clis_cached_binary_is_reused(server, phone, tmp_path):
    theirs = tmp_path / "home" / ".cache" / "litert-cli" / "binaries" / "arm64-v8a" / "benchmark_model"
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(BINARY)
    result = setup(phone)
    assert result.exit_code == 0 and "(litert-cli cache)" in result.output and server.requests == []


def test_setup_for_an_ssh_board_asks_its_cpu(server, sshd, tmp_path):
    """The board (a real sshd on loopback: this x86_64 machine) answers `uname -m`; its binary is fetched."""
    import platform

    machine = {"x86_64": "linux_x86_64", "aarch64": "linux_arm64"}[platform.machine()]
    server.files[f"/{VERSION}/{machine}/benchmark_model"] = BINARY
    board = tmp_path / "board.yaml"
    connection = sshd.connection()
    board.write_text(yaml.safe_dump({"name": "board", "kind": "ssh", "ssh": {
        "host": "127.0.0.1", "user": connection.user, "port": connection.port, "key_file": connection.key_file,
        "known_hosts": connection.known_hosts}}))
    result = setup(board)
    assert result.exit_code == 0, result.output
    assert f"benchmark_model {VERSION} for {machine} (download)" in result.output
