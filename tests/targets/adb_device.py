"""A stand-in Android device on loopback that the real `adb` server talks to: adbd's side of the wire protocol.

No phone and no adbd run on the machines that run the tests. This speaks what adbd speaks over TCP
(AOSP system/core/adb: protocol.txt, SERVICES.TXT, SYNC.TXT, shell_protocol.h): the real adb server
`adb connect`s to it, then `adb shell` (shell protocol v2, so exit codes come back) and `adb push` /
`adb pull` (the sync service: STAT, SEND/DATA/DONE, RECV, LIST, QUIT) run against a sandbox folder.
Shell commands run with this machine's /bin/sh inside the sandbox, with `getprop` on PATH answering the
device properties given. What is not Android: the kernel, the CPU (x86_64 here), the binaries on PATH,
and paths: the device's file system is this machine's, so the sync service refuses any path outside
the sandbox (a real device refuses writes outside /data/local/tmp the same way, with a FAIL).
"""

from __future__ import annotations

import json
import os
import queue
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional

A_CNXN, A_OPEN, A_OKAY, A_CLSE, A_WRTE = 0x4E584E43, 0x4E45504F, 0x59414B4F, 0x45534C43, 0x45545257
A_VERSION = 0x01000001  # A_VERSION_SKIP_CHECKSUM: adb >= 1.0.36 checks no payload sums at this version
MAX_PAYLOAD = 256 * 1024
SYNC_DATA_MAX = 64 * 1024
# shell_protocol.h packet ids
SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN = 0, 1, 2, 3, 4


def message(command: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    """One amessage: six little-endian uint32 (command, arg0, arg1, length, checksum, magic), then the data."""
    return struct.pack("<6I", command, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF,
                       command ^ 0xFFFFFFFF) + data


class Stream:
    """One adb stream (an OPENed service): WRTE out waits for the peer's OKAY, as adbd does."""

    def __init__(self, connection: "DeviceConnection", local_id: int, remote_id: int):
        self.connection, self.local_id, self.remote_id = connection, local_id, remote_id
        self.incoming: queue.Queue = queue.Queue()
        self.acked = threading.Semaphore(0)
        self.write_lock = threading.Lock()
        self.closed = False
        self._buffer = bytearray()

    def send(self, data: bytes) -> None:
        with self.write_lock:
            for start in range(0, len(data), self.connection.max_payload):
                if self.closed:
                    return
                self.connection.send(message(A_WRTE, self.local_id, self.remote_id,
                                             data[start:start + self.connection.max_payload]))
                if not self.acked.acquire(timeout=30):
                    return

    def read(self, size: int) -> Optional[bytes]:
        """Exactly `size` bytes from the peer, or None once it closed the stream."""
        while len(self._buffer) < size:
            chunk = self.incoming.get()
            if chunk is None:
                return None
            self._buffer += chunk
        data, self._buffer = bytes(self._buffer[:size]), self._buffer[size:]
        return data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.connection.send(message(A_CLSE, self.local_id, self.remote_id))
        self.connection.forget(self.local_id)


class DeviceConnection:
    """One TCP connection from the adb server: the CNXN handshake, then streams."""

    def __init__(self, device: "AdbDevice", sock: socket.socket):
        self.device, self.sock = device, sock
        self.max_payload = MAX_PAYLOAD
        self.streams: dict[int, Stream] = {}
        self.next_id = 1
        self.lock = threading.Lock()

    def send(self, data: bytes) -> None:
        with self.lock:
            try:
                self.sock.sendall(data)
            except OSError:
                pass

    def forget(self, local_id: int) -> None:
        self.streams.pop(local_id, None)

    def _read_exact(self, size: int) -> Optional[bytes]:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def serve(self) -> None:
        try:
            while True:
                header = self._read_exact(24)
                if header is None:
                    break
                command, arg0, arg1, length, _, _ = struct.unpack("<6I", header)
                payload = self._read_exact(length) if length else b""
                if payload is None:
                    break
                self._dispatch(command, arg0, arg1, payload)
        except OSError:
            pass
        finally:
            for stream in list(self.streams.values()):
                stream.incoming.put(None)
            self.sock.close()

    def _dispatch(self, command: int, arg0: int, arg1: int, payload: bytes) -> None:
        if command == A_CNXN:  # no AUTH: like a device with ro.adb.secure=0, it answers at once
            self.max_payload = min(arg1, MAX_PAYLOAD)
            self.send(message(A_CNXN, A_VERSION, MAX_PAYLOAD, self.device.banner()))
        elif command == A_OPEN:
            self._open(arg0, payload.rstrip(b"\0").decode())
        elif command == A_OKAY and arg1 in self.streams:
            self.streams[arg1].acked.release()
        elif command == A_WRTE and arg1 in self.streams:
            self.send(message(A_OKAY, arg1, arg0))
            self.streams[arg1].incoming.put(payload)
        elif command == A_CLSE and arg1 in self.streams:
            stream = self.streams.pop(arg1)
            stream.closed = True
            stream.incoming.put(None)

    def _open(self, remote_id: int, service: str) -> None:
        handler = self.device.handler_for(service)
        if handler is None:  # adbd closes a stream it has no service for
            self.send(message(A_CLSE, 0, remote_id))
            return
        with self.lock:
            local_id, self.next_id = self.next_id, self.next_id + 1
        stream = Stream(self, local_id, remote_id)
        self.streams[local_id] = stream
        self.send(message(A_OKAY, local_id, remote_id))
        threading.Thread(target=handler, args=(stream, service), daemon=True).start()


class AdbDevice:
    """Listens on 127.0.0.1:PORT for the adb server; `adb connect 127.0.0.1:PORT` reaches it."""

    def __init__(self, sandbox: Path, properties: dict[str, str]):
        self.sandbox = Path(sandbox).resolve()
        self.properties = properties
        self.commands_run: list[str] = []
        bin_dir = self.sandbox / "system" / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        (bin_dir / "props.json").write_text(json.dumps(properties))
        getprop = bin_dir / "getprop"  # prints one property, or nothing, like Android's toybox getprop
        getprop.write_text(f"#!{sys.executable}\nimport json, sys\n"
                           f"props = json.load(open({str(bin_dir / 'props.json')!r}))\n"
                           "print(props.get(sys.argv[1], '')) if len(sys.argv) > 1 else "
                           "[print(f'[{k}]: [{v}]') for k, v in sorted(props.items())]\n")
        getprop.chmod(0o755)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.serial = f"127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def banner(self) -> bytes:
        props = ";".join(f"{key}={self.properties.get(key, '')}" for key in
                         ("ro.product.name", "ro.product.model", "ro.product.device"))
        return f"device::{props};features=shell_v2,cmd".encode()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=DeviceConnection(self, sock).serve, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def handler_for(self, service: str):
        if service.startswith("shell"):
            return self._shell
        if service == "sync:":
            return self._sync
        return None

    def device_path(self, path: str) -> Optional[Path]:
        """The sandbox file a device path names, or None outside the sandbox."""
        resolved = Path(os.path.normpath(path))
        return resolved if resolved == self.sandbox or self.sandbox in resolved.parents else None

    # -- shell: "shell,v2,TERM=xterm,raw:COMMAND" (protocol v2) or "shell:COMMAND" (legacy, no exit code)
    def _shell(self, stream: Stream, service: str) -> None:
        options, _, command = service.partition(":")
        v2 = "v2" in options.split(",")[1:]
        self.commands_run.append(command)
        env = {"PATH": f"{self.sandbox / 'system' / 'bin'}:/usr/bin:/bin", "HOME": str(self.sandbox),
               "TMPDIR": str(self.sandbox)}
        process = subprocess.Popen(["/bin/sh", "-c", command], cwd=self.sandbox, env=env, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        pumps = [threading.Thread(target=self._pump, args=(pipe, stream, packet_id if v2 else None), daemon=True)
                 for pipe, packet_id in ((process.stdout, SHELL_STDOUT), (process.stderr, SHELL_STDERR))]
        for pump in pumps:
            pump.start()
        threading.Thread(target=self._feed_stdin, args=(stream, process, v2), daemon=True).start()
        for pump in pumps:
            pump.join()
        code = process.wait()
        if v2:
            stream.send(struct.pack("<BI", SHELL_EXIT, 1) + bytes([code & 0xFF]))
        stream.close()

    @staticmethod
    def _pump(pipe, stream: Stream, packet_id: Optional[int]) -> None:
        for chunk in iter(lambda: pipe.read1(SYNC_DATA_MAX), b""):
            stream.send(chunk if packet_id is None else struct.pack("<BI", packet_id, len(chunk)) + chunk)

    @staticmethod
    def _feed_stdin(stream: Stream, process: subprocess.Popen, v2: bool) -> None:
        try:
            while True:
                if not v2:
                    return
                header = stream.read(5)
                if header is None:
                    break
                packet_id, length = struct.unpack("<BI", header)
                data = stream.read(length) if length else b""
                if packet_id == SHELL_STDIN and data:
                    process.stdin.write(data)
                    process.stdin.flush()
                elif packet_id == SHELL_CLOSE_STDIN:
                    break
        except (BrokenPipeError, OSError):
            pass
        finally:
            try:
                process.stdin.close()
            except OSError:
                pass

    # -- sync: 8-byte requests (4-character id, little-endian length), SYNC.TXT's version 1
    def _sync(self, stream: Stream, service: str) -> None:
        while True:
            header = stream.read(8)
            if header is None or header[:4] == b"QUIT":
                break
            request, length = header[:4], struct.unpack("<I", header[4:])[0]
            argument = (stream.read(length) or b"").decode()
            if request == b"STAT":
                stream.send(b"STAT" + self._stat(argument))
            elif request == b"SEND":
                self._receive_file(stream, argument)
            elif request == b"RECV":
                self._send_file(stream, argument)
            elif request == b"LIST":
                self._list(stream, argument)
            else:
                self._fail(stream, f"unknown sync request {request!r}")
                break
        stream.close()

    def _stat(self, device_path: str) -> bytes:
        path = self.device_path(device_path)
        try:
            info = os.lstat(path) if path is not None else None
        except OSError:
            info = None
        if info is None:  # adbd answers an all-zero STAT for a missing file
            return struct.pack("<III", 0, 0, 0)
        return struct.pack("<III", info.st_mode, info.st_size & 0xFFFFFFFF, int(info.st_mtime))

    @staticmethod
    def _fail(stream: Stream, reason: str) -> None:
        data = reason.encode()
        stream.send(b"FAIL" + struct.pack("<I", len(data)) + data)

    def _receive_file(self, stream: Stream, spec: str) -> None:
        device_path, _, mode = spec.rpartition(",")
        path = self.device_path(device_path)
        chunks = []
        while True:
            header = stream.read(8)
            if header is None:
                return
            length = struct.unpack("<I", header[4:])[0]
            if header[:4] == b"DONE":  # length is the mtime here
                break
            chunks.append(stream.read(length))
        if path is None:
            self._fail(stream, f"couldn't create file: Permission denied ({device_path} is outside the sandbox)")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(chunks))
        path.chmod(int(mode) & 0o777)
        stream.send(b"OKAY" + struct.pack("<I", 0))

    def _send_file(self, stream: Stream, device_path: str) -> None:
        path = self.device_path(device_path)
        if path is None or not path.is_file():
            self._fail(stream, f"remote object '{device_path}' does not exist")
            return
        data = path.read_bytes()
        for start in range(0, len(data), SYNC_DATA_MAX):
            chunk = data[start:start + SYNC_DATA_MAX]
            stream.send(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
        stream.send(b"DONE" + struct.pack("<I", 0))

    def _list(self, stream: Stream, device_path: str) -> None:
        path = self.device_path(device_path)
        for entry in sorted(path.iterdir()) if path is not None and path.is_dir() else []:
            info = entry.lstat()
            name = entry.name.encode()
            stream.send(b"DENT" + struct.pack("<4I", info.st_mode, info.st_size & 0xFFFFFFFF, int(info.st_mtime),
                                              len(name)) + name)
        stream.send(b"DONE" + struct.pack("<4I", 0, 0, 0, 0))


def adb_connect(device: AdbDevice, adb: str = "adb", timeout: float = 20) -> None:
    """`adb connect` to the stand-in, then waits until the adb server reports it as a `device`."""
    import time

    subprocess.run([adb, "connect", device.serial], capture_output=True, text=True, timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = subprocess.run([adb, "-s", device.serial, "get-state"], capture_output=True, text=True,
                               timeout=timeout, stdin=subprocess.DEVNULL)
        if state.stdout.strip() == "device":
            return
        time.sleep(0.1)
    raise RuntimeError(f"adb never saw {device.serial} as a device")

