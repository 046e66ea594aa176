"""One benchmark at a time per device: a Target whose `bench` runs as a Ray task holding the device.

Each attached target is a Ray custom resource `device:<name>` with capacity 1. A trial's build runs
unchanged (`edgecomp.run.pipeline.run_build`); only the target it is given is this wrapper, whose
`bench` submits the measurement as a Ray task that needs that resource (and no CPU, so it never
waits for a training slot). While one trial measures, the others keep training.

The task receives the files as bytes and writes them to a temporary folder on whichever node holds
the device, so the device need not share a filesystem with the trial.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from edgecomp.core.errors import TargetError
from edgecomp.targets.profiles import resolve_target


def device_resource(target_name: str) -> str:
    """The Ray resource name of a target (one unit per attached device)."""
    return f"device:{target_name}"

def _bench_on_device(target_spec: dict, files: dict[str, bytes], sample_name: str, sample: bytes, settings):
    """Runs in the Ray task: write the files, resolve the target here, benchmark, return the outcomes."""

    target = resolve_target(target_spec["name"], **target_spec.get("overrides", {}))
    with tempfile.TemporaryDirectory(prefix="edgecomp-bench-") as folder:
        paths = []
        for name, content in files.items():
            path = Path(folder) / name
            path.write_bytes(content)
            paths.append(path)
        sample_path = Path(folder) / sample_name
        sample_path.write_bytes(sample)
        return target.bench(paths, sample_path, settings)

class DeviceLockedTarget:
    """Wraps a Target: every attribute is the wrapped one's, except `bench`, which holds the device."""

    def __init__(self, target, target_spec: dict):
        self._target = target
        self._spec = target_spec

    def __getattr__(self, name):
        return getattr(self._target, name)

    def bench(self, artifacts, sample, settings):
        """The wrapped target's `bench`, run as a Ray task that holds `device:<name>` while it runs."""
        import ray

        names = [Path(a).name for a in artifacts]
        if len(set(names)) != len(names):
            raise TargetError(f"two artifacts share a file name ({', '.join(names)}); cannot ship them to the device")
        files = {Path(a).name: Path(a).read_bytes() for a in artifacts}
        # "DEFAULT": outside the trial's placement group, whose one bundle holds the trial's CPU only.
        task = ray.remote(num_cpus=0, resources={self._spec["resource"]: 1}, max_retries=0,
                          scheduling_strategy="DEFAULT")(_bench_on_device)
        outcomes = ray.get(task.remote(self._spec, files, Path(sample).name, Path(sample).read_bytes(), settings))
        for outcome, original in zip(outcomes, artifacts):
            outcome.artifact = Path(original)  # the trial's own path, not the device task's temporary copy
        return outcomes
