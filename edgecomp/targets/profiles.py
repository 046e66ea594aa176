"""Device profiles: `targets/NAME.yaml` validated into a `TargetProfile`, overridden, made a Target.

A profile is data (capabilities, connection, runtime, recommended compression); `make_target`
turns it into a HostTarget, SshTarget or AdbTarget. Precedence: YAML < environment < CLI flags,
and every override is recorded on the profile (`profile.overrides`) so reports can say so.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Literal, Mapping, Optional

from pydantic import ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from edgecomp.core.errors import ConfigError, UsageError
from edgecomp.core.settings import Strict, format_validation_error
from edgecomp.plan.plan import load_yaml
from edgecomp.targets.adb import AdbTarget
from edgecomp.targets.emulated import EmulatedSshTarget
from edgecomp.targets.host import HostTarget
from edgecomp.targets.ssh import SshTarget

Runtime = Literal["auto", "ai_edge_litert", "tflite_runtime", "tensorflow", "onnxruntime"]
Delegate = Literal["xnnpack", "gpu", "nnapi", "none"]

REMOVED_RECOMMENDATIONS = ("recommended_compression", "recommended_format")

# Host names, user names and serials go into ssh/adb argument lists; a leading "-" would be read
# as an option, so only ordinary characters are allowed.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.:%\[\]][A-Za-z0-9_.:%@\[\]-]*$")

ENV_OVERRIDES = {"EDGECOMP_SSH_HOST": "host", "EDGECOMP_SSH_USER": "user", "EDGECOMP_SSH_PORT": "port",
                 "EDGECOMP_SSH_KEY": "key", "EDGECOMP_ADB_SERIAL": "serial"}

def _check_safe(value: Optional[str], what: str) -> Optional[str]:
    if value is not None and not _SAFE_NAME.match(value):
        raise ValueError(f"{what} {value!r} has characters ssh/adb would misread; use a plain name or address")
    return value

class SshConnection(Strict):
    """How to reach a Linux board (Raspberry Pi) with the system OpenSSH client."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    user: Optional[str] = None
    port: int = Field(22, gt=0, lt=65536)
    key_file: Optional[str] = Field(None, description="private key (-i); default: ssh's own choice")
    known_hosts: Optional[str] = Field(None, description="UserKnownHostsFile; default ~/.ssh/known_hosts")
    accept_new_host_key: bool = Field(False, description="StrictHostKeyChecking=accept-new (never 'no')")
    connect_timeout_s: int = Field(10, gt=0)
    python: str = Field("python3", description="the device's Python, with numpy and a TFLite runtime")

    @field_validator("host", "user")
    @classmethod
    def _plain_names(cls, value: Optional[str], info) -> Optional[str]:
        return _check_safe(value, info.field_name)

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def describe(self) -> str:
        return f"{self.destination}:{self.port}"

class AdbConnection(Strict):
    """How to reach an Android device with adb and LiteRT's `benchmark_model` binary."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    serial: Optional[str] = Field(None, description="adb -s SERIAL; default: the only attached device")
    benchmark_model: Optional[str] = Field(None, description="local path of LiteRT's benchmark_model for "
                                                             "the device's ABI (android_aarch64_benchmark_model)")
    remote_dir: str = "/data/local/tmp/edgecomp"
    adb: str = Field("adb", description="the adb binary")

    @field_validator("serial")
    @classmethod
    def _plain_serial(cls, value: Optional[str]) -> Optional[str]:
        return _check_safe(value, "serial")

    def describe(self) -> str:
        return f"adb {self.serial or '(only device)'}"

class TargetProfile(Strict):
    """One device: how to reach it and how to run models there.

    It recommends no compression: which artifact suits a device is measured there, by a build or a
    bench on it (the report's recommended artifact), never written into its profile."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["host", "ssh", "adb"]
    description: str = ""
    ssh: Optional[SshConnection] = None
    adb: Optional[AdbConnection] = None
    runtime: Runtime = "auto"
    threads: int = Field(1, gt=0, description="default --threads for this device")
    delegate: Delegate = "xnnpack"
    notes: str = ""
    run_timeout_s: float = Field(600, gt=0, description="per-artifact limit on the device")
    benchmark_model: Optional[str] = Field(None, description="host/ssh: local path of LiteRT's benchmark_model "
                                           "for the device (per-op profiles); default: LiteRT's prebuilt one")
    emulated: bool = Field(False, description="the device's software runs under an emulator (QEMU): its "
                                              "latencies are labelled emulated and never ranked or gated")

    _overrides: dict = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _no_written_recommendation(cls, values):
        # Profiles before issue 21 carried these; say why they went rather than "unknown key".
        removed = [key for key in REMOVED_RECOMMENDATIONS if isinstance(values, Mapping) and key in values]
        if removed:
            fields = "is no longer a profile field" if len(removed) == 1 else "are no longer profile fields"
            raise ValueError(f"{' and '.join(removed)} {fields}: a recommendation written, never measured. "
                             "The artifact to ship is recommended from what a build or bench measures on the "
                             "device (the ★ row of its report); delete the line.")
        return values

    @model_validator(mode="after")
    def _connection_matches_kind(self) -> TargetProfile:
        if self.kind == "ssh" and self.ssh is None:
            raise ValueError("kind 'ssh' needs an 'ssh:' section with at least 'host'")
        if self.kind == "adb" and self.adb is None:
            raise ValueError("kind 'adb' needs an 'adb:' section (it may be empty: adb: {})")
        for section in ("ssh", "adb"):
            if section != self.kind and getattr(self, section) is not None:
                raise ValueError(f"a {self.kind!r} profile cannot have an {section!r} section")
        if self.kind == "adb" and self.benchmark_model is not None:
            raise ValueError("an adb profile names its benchmark_model under 'adb:' (adb.benchmark_model)")
        if self.emulated and self.kind != "ssh":
            raise ValueError("emulated: true is for ssh profiles (an emulated board reached over SSH)")
        if self.kind != "adb" and self.delegate != "xnnpack":
            raise ValueError(f"delegate {self.delegate!r} is only available through benchmark_model on "
                             "adb targets; the Python runner uses the runtime's default (xnnpack)")
        return self

    @property
    def overrides(self) -> dict:
        """Settings changed from the YAML by environment variables or flags: {field: source}."""
        return dict(self._overrides)

    def connection_summary(self) -> str:
        if self.ssh is not None:
            return f"ssh {self.ssh.describe()}"
        if self.adb is not None:
            return self.adb.describe()
        return "local"

def parse_profile(data: dict, source: str = "target profile") -> TargetProfile:
    """Validates a profile mapping.

    Raises:
        ConfigError: unknown keys (with did-you-mean) or bad values, one clause per problem.
    """
    try:
        return TargetProfile.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, TargetProfile, source)) from err

def profile_dirs() -> list[Path]:
    """Where profile names are looked up, first match wins: $EDGECOMP_TARGETS_DIR, the user's
    ~/.config/edgecomp/targets, then the profiles shipped with edgecomp."""
    dirs = []
    if os.environ.get("EDGECOMP_TARGETS_DIR"):
        dirs.append(Path(os.environ["EDGECOMP_TARGETS_DIR"]).expanduser())
    dirs.append(Path("~/.config/edgecomp/targets").expanduser())
    dirs.append(shipped_profiles_dir())
    return dirs

def shipped_profiles_dir() -> Path:
    """The repository's top-level `targets/` folder: inside an installed wheel it is the package
    `edgecomp.profiles` (pyproject's package-dir); in a source checkout, `targets/` beside `edgecomp/`."""
    import importlib

    try:
        # A namespace package (the folder has no __init__.py): its __path__ lists where it was found.
        folders = [Path(p) for p in importlib.import_module("edgecomp.profiles").__path__]
    except ModuleNotFoundError:  # a source checkout on PYTHONPATH: no such package, the folder is there
        folders = []
    for folder in folders:
        if folder.is_dir():
            return folder
    return Path(__file__).resolve().parents[2] / "targets"  # edgecomp/targets/profiles.py -> repo

def available_profiles() -> dict[str, Path]:
    """Profile name -> YAML path, over every search folder (earlier folders win)."""
    found: dict[str, Path] = {}
    for folder in reversed(profile_dirs()):
        if folder.is_dir():
            found.update({path.stem: path for path in sorted(folder.glob("*.yaml"))})
    return dict(sorted(found.items()))

def load_profile(name_or_path: str) -> TargetProfile:
    """Loads `targets/NAME.yaml` from the search folders, or a YAML file given by path.

    Raises:
        UsageError: the name matches no profile; the message lists the known ones.
        ConfigError: the YAML does not parse or does not validate.
    """
    looks_like_path = name_or_path.endswith((".yaml", ".yml")) or os.sep in name_or_path
    if looks_like_path:
        path = Path(name_or_path).expanduser()
    else:
        known = available_profiles()
        if name_or_path not in known:
            close = difflib.get_close_matches(name_or_path, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"unknown target {name_or_path!r}.{hint} Known profiles: "
                             f"{', '.join(known) or 'none'} (searched {', '.join(map(str, profile_dirs()))}); "
                             "or pass a path to a profile YAML.")
        path = known[name_or_path]
    return parse_profile(load_yaml(path), source=f"target profile {path}")

def apply_overrides(profile: TargetProfile, *, host: Optional[str] = None, user: Optional[str] = None,
                    port: Optional[int] = None, key: Optional[str] = None, serial: Optional[str] = None,
                    source: str = "flag") -> TargetProfile:
    """A copy of `profile` with connection settings replaced; each change is recorded.

    Raises:
        UsageError: an SSH setting on a non-SSH profile, or a serial on a non-adb profile.
    """
    ssh_changes = {k: v for k, v in {"host": host, "user": user, "port": port, "key_file": key}.items()
                   if v is not None}
    adb_changes = {"serial": serial} if serial is not None else {}
    if ssh_changes and profile.kind != "ssh":
        raise UsageError(f"{', '.join(ssh_changes)} only apply to ssh targets; {profile.name!r} is {profile.kind}.")
    if adb_changes and profile.kind != "adb":
        raise UsageError(f"serial only applies to adb targets; {profile.name!r} is {profile.kind}.")
    data = profile.model_dump()
    if ssh_changes:
        data["ssh"].update(ssh_changes)
    if adb_changes:
        data["adb"].update(adb_changes)
    updated = parse_profile(data, source=f"target {profile.name!r} after {source} overrides")
    updated._overrides = {**profile.overrides, **{k: source for k in (*ssh_changes, *adb_changes)}}
    return updated

def apply_env_overrides(profile: TargetProfile, environ: Mapping[str, str] = os.environ) -> TargetProfile:
    """Applies EDGECOMP_SSH_HOST/USER/PORT/KEY and EDGECOMP_ADB_SERIAL where they fit the profile's kind.

    Environment variables are ambient, so one that does not apply to this kind is ignored
    (unlike an explicit flag, which is an error).
    """
    values = {field: environ[var] for var, field in ENV_OVERRIDES.items() if environ.get(var)}
    if profile.kind != "ssh":
        values = {k: v for k, v in values.items() if k == "serial"}
    if profile.kind != "adb":
        values.pop("serial", None)
    if not values:
        return profile
    if "port" in values:
        try:
            values["port"] = int(values["port"])
        except ValueError:
            raise ConfigError(f"EDGECOMP_SSH_PORT={values['port']!r} is not a port number.") from None
    return apply_overrides(profile, source="environment", **values)

def make_target(profile: TargetProfile):
    """The Target that benchmarks on the device `profile` describes."""
    if profile.kind == "host":
        return HostTarget(runtime=profile.runtime, profile=profile)
    if profile.kind == "ssh" and profile.emulated:
        return EmulatedSshTarget.from_profile(profile)
    if profile.kind == "ssh":
        return SshTarget.from_profile(profile)

    return AdbTarget.from_profile(profile)

def resolve_target(name_or_path: str, *, host: Optional[str] = None, user: Optional[str] = None,
                   port: Optional[int] = None, key: Optional[str] = None, serial: Optional[str] = None):
    """`--target NAME` -> Target: load the profile, apply environment then flag overrides, build it."""
    profile = apply_env_overrides(load_profile(name_or_path))
    profile = apply_overrides(profile, host=host, user=user, port=port, key=key, serial=serial)
    return make_target(profile)
