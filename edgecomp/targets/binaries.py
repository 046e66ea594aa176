"""LiteRT's prebuilt `benchmark_model`, fetched for the user: download, verify, cache, version.

No wheel ships benchmark_model. LiteRT publishes it per platform and release at
`https://storage.googleapis.com/litert/binaries/{version}/{platform}/benchmark_model`, the
version being the `ai-edge-litert` release ("latest" for nightlies); the LiteRT CLI downloads it
from there (google-ai-edge/LiteRT-CLI litert_cli/core/constants.py, benchmark/android.py and
desktop.py) into ~/.cache/litert-cli/binaries/{abi or platform}/. No checksum is published beside
it, so the first download's size and SHA-256 are recorded in the cache (trust on first use), and
every later use and re-download is checked against them. A profile's own `benchmark_model:` path
always wins over all this.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import platform as host_platform
import shutil
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from edgecomp.core.cache_store import cache_root
from edgecomp.core.errors import TargetError

DEFAULT_BASE_URL = "https://storage.googleapis.com/litert/binaries"
BASE_URL_ENV = "EDGECOMP_LITERT_BINARIES_URL"  # a mirror (or a loopback server in tests)
PLATFORMS = ("android_arm64", "linux_arm64", "linux_x86_64")
# LiteRT CLI's cache folder for each platform (Android binaries are filed under the device ABI)
LITERT_CLI_FOLDERS = {"android_arm64": "arm64-v8a", "linux_arm64": "linux_arm64", "linux_x86_64": "linux_x86_64"}
PROFILE_KEYS = {"android_arm64": "adb.benchmark_model", "linux_arm64": "benchmark_model",
                "linux_x86_64": "benchmark_model"}


@dataclass(frozen=True)
class BenchmarkBinary:
    """A benchmark_model file ready to use, and where it came from (recorded in reports)."""

    path: str
    platform: str
    version: str  # the LiteRT release it belongs to, "unknown" for a user's or LiteRT CLI's file
    source: str  # "download" | "edgecomp cache" | "litert-cli cache" | "profile"
    sha256: str
    size: int
    url: Optional[str] = None

    def to_dict(self) -> dict:
        return asdict(self)


def litert_version() -> str:
    """The installed ai-edge-litert release, whose benchmark_model matches its runtime; else "latest"."""
    import importlib.metadata

    try:
        return importlib.metadata.version("ai-edge-litert")
    except importlib.metadata.PackageNotFoundError:
        return "latest"


def host_binary_platform() -> str:
    """This machine's platform name in LiteRT's binaries folder.

    Raises:
        TargetError: not a Linux x86_64 / arm64 machine.
    """
    if os.uname().sysname != "Linux":
        raise TargetError(f"LiteRT publishes no benchmark_model for {os.uname().sysname} here; build it and set "
                          "`benchmark_model:` in the profile.")
    return platform_for_machine(host_platform.machine())


def platform_for_machine(machine: str) -> str:
    """`uname -m` of a Linux board -> LiteRT's platform folder.

    Raises:
        TargetError: a CPU LiteRT publishes no benchmark_model for (32-bit ARM, RISC-V...).
    """
    folders = {"aarch64": "linux_arm64", "arm64": "linux_arm64", "x86_64": "linux_x86_64", "amd64": "linux_x86_64"}
    if machine.strip().lower() not in folders:
        raise TargetError(f"LiteRT publishes no benchmark_model for {machine.strip() or 'this'} CPU (only aarch64 "
                          "and x86_64): build one for the board and set `benchmark_model:` in the profile.")
    return folders[machine.strip().lower()]


def binary_url(platform: str, version: str) -> str:
    base = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return f"{base.rstrip('/')}/{version}/{platform}/benchmark_model"


def cache_folder(platform: str, version: str) -> Path:
    return cache_root() / "binaries" / version / platform


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_platform(platform: str) -> None:
    if platform not in PLATFORMS:
        raise TargetError(f"no prebuilt benchmark_model for {platform!r}; LiteRT publishes {', '.join(PLATFORMS)}.")


def _verified_cache_entry(folder: Path) -> Optional[dict]:
    """The recorded size and SHA-256 of a cached binary; refuses a file that no longer matches them."""
    record_path, binary = folder / "benchmark_model.json", folder / "benchmark_model"
    if not record_path.is_file():
        return None
    record = json.loads(record_path.read_text())
    if not binary.is_file():
        return record  # recorded, binary gone: a re-download must match the record
    if binary.stat().st_size == record["size"] and sha256_of(binary) == record["sha256"]:
        return record
    raise TargetError(f"the cached {binary} no longer matches the size and SHA-256 recorded when it was "
                      f"downloaded ({record['sha256'][:16]}...): it was changed or damaged. Delete {folder} "
                      "and run `edgecomp targets setup` again.")


def _download(url: str, destination: Path, platform: str) -> None:
    """Fetches `url` into `destination`, refusing a short body (Content-Length not met)."""
    how_to = (f"Download it by hand from {url} (chmod +x) and set `{PROFILE_KEYS[platform]}:` in the target "
              "profile to its path.")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(destination, "wb") as out:
            expected = response.headers.get("Content-Length")
            shutil.copyfileobj(response, out, 1 << 20)
    except urllib.error.HTTPError as err:
        raise TargetError(f"could not download benchmark_model: {url} answered HTTP {err.code}. {how_to}") from None
    except http.client.IncompleteRead as err:
        raise TargetError(f"the download of {url} broke off after {len(err.partial)} bytes; nothing was kept. "
                          f"Try again, or: {how_to}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise TargetError(f"could not download benchmark_model from {url} ({reason}): offline? {how_to}") from None
    received = destination.stat().st_size
    if expected is not None and int(expected) != received:
        raise TargetError(f"the download of {url} stopped at {received} of {expected} bytes; nothing was kept. "
                          f"Try again, or: {how_to}")


def fetch_benchmark_model(platform: str, version: Optional[str] = None, *, force: bool = False) -> BenchmarkBinary:
    """benchmark_model for `platform`, from edgecomp's cache, LiteRT CLI's cache, or LiteRT's published binaries.

    Args:
        platform: "android_arm64", "linux_arm64" or "linux_x86_64".
        version: LiteRT release [the installed ai-edge-litert's].
        force: download again even when cached (the new file must match the recorded SHA-256).

    Raises:
        TargetError: offline or refused downloads (the message names the URL and the profile key to
            set instead), a damaged cache, or a download whose SHA-256 differs from the recorded one.
    """
    _check_platform(platform)
    version = version or litert_version()
    folder = cache_folder(platform, version)
    binary, record_path = folder / "benchmark_model", folder / "benchmark_model.json"
    url = binary_url(platform, version)
    record = _verified_cache_entry(folder)
    if record is not None and binary.is_file() and not force:
        return BenchmarkBinary(str(binary), platform, version, "edgecomp cache", record["sha256"], record["size"], url)
    if record is None and not force:
        borrowed = _litert_cli_binary(platform)
        if borrowed is not None:
            return borrowed
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / "benchmark_model.part"
    try:
        _download(url, partial, platform)
        size, sha256 = partial.stat().st_size, sha256_of(partial)
        if record is not None and (size, sha256) != (record["size"], record["sha256"]):
            raise TargetError(f"refused the benchmark_model downloaded from {url}: its SHA-256 {sha256[:16]}... "
                              f"({size} bytes) differs from the one recorded at the first download "
                              f"({record['sha256'][:16]}..., {record['size']} bytes). The cached file is kept.")
        partial.chmod(0o755)
        os.replace(partial, binary)
    finally:
        partial.unlink(missing_ok=True)
    if record is None:
        record_path.write_text(json.dumps({"url": url, "size": size, "sha256": sha256}, indent=1))
    return BenchmarkBinary(str(binary), platform, version, "download", sha256, size, url)


def _litert_cli_binary(platform: str) -> Optional[BenchmarkBinary]:
    """A benchmark_model the LiteRT CLI already downloaded (~/.cache/litert-cli/binaries/...); its
    release is not recorded there, so its version is "unknown"."""
    path = Path.home() / ".cache" / "litert-cli" / "binaries" / LITERT_CLI_FOLDERS[platform] / "benchmark_model"
    if not path.is_file():
        return None
    return BenchmarkBinary(str(path), platform, "unknown", "litert-cli cache", sha256_of(path), path.stat().st_size)


def user_binary(path: str, platform: str) -> BenchmarkBinary:
    """The profile's own benchmark_model (it wins over downloads).

    Raises:
        TargetError: the file does not exist.
    """
    local = Path(path).expanduser()
    if not local.is_file():
        raise TargetError(f"benchmark_model binary {local} (the profile's {PROFILE_KEYS[platform]}) does not exist; "
                          "fix the path, or remove the key to let edgecomp download LiteRT's prebuilt binary "
                          "(`edgecomp targets setup NAME`).")
    return BenchmarkBinary(str(local), platform, "unknown", "profile", sha256_of(local), local.stat().st_size)
