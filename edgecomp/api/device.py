"""The target a build, bench or search measures on: a profile with connection settings on top."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

from edgecomp.core.errors import UsageError

CONNECTION_KEYS = ("host", "port", "user", "key", "serial")


def connection_overrides(connection: Optional[dict]) -> dict:
    """The connection settings given (None values dropped), checked against the keys a target takes.

    Raises:
        UsageError: a key other than host, port, user, key and serial.

    Examples:
        >>> connection_overrides({"host": "pi.local", "port": None})
        {'host': 'pi.local'}
    """
    unknown = sorted(set(connection or {}) - set(CONNECTION_KEYS))
    if unknown:
        raise UsageError(f"unknown connection setting(s) {', '.join(unknown)}; valid: {', '.join(CONNECTION_KEYS)}.")
    return {key: value for key, value in (connection or {}).items() if value is not None}


def resolve_device(target: str, connection: Optional[dict] = None):
    """The `Target` for a profile name or YAML path, with `connection` over the profile's (and the
    environment's EDGECOMP_SSH_* / EDGECOMP_ADB_SERIAL) settings.

    Raises:
        UsageError: an unknown target or connection setting.
    """
    from edgecomp.targets.profiles import resolve_target

    return resolve_target(target, **connection_overrides(connection))


def resolve_devices(targets: Union[str, Sequence[str]], connection: Optional[dict] = None) -> list:
    """The Targets of one profile name or several, every profile loaded before any work.

    Raises:
        UsageError: an unknown target or connection setting, no target, or a target given twice (its
            reports would share a folder).

    Examples:
        >>> [device.name for device in resolve_devices(["host", "rpi4"])]
        ['host', 'rpi4']
        >>> resolve_devices(["host", "host"])
        Traceback (most recent call last):
        ...
        edgecomp.core.errors.UsageError: target host is given twice ...
    """
    from edgecomp.run.multi_target import refuse_repeated_targets

    names = [targets] if isinstance(targets, (str, Path)) else [str(name) for name in targets]
    if not names:
        raise UsageError("no target given; name at least one target profile (see `edgecomp targets list`).")
    devices = [resolve_device(str(name), connection) for name in names]
    refuse_repeated_targets([device.name for device in devices])
    return devices
