"""DeviceLockedTarget: a trial's benchmark runs as a Ray task that holds `device:<target>`, on the real host target."""

from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")


@pytest.fixture()
def embedded_ray():
    ray.init(address="local", num_cpus=1, resources={"device:host": 1}, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture()
def untrained_tflite(tmp_path, fmnist_small):
    from edgecomp.exporters.tflite import keras_to_tflite
    from edgecomp.models.zoo import build_zoo_model

    model = build_zoo_model("cnn-tiny", fmnist_small.input_shape, fmnist_small.num_classes)
    return keras_to_tflite(model, tmp_path / "model_float32.tflite", "float32")


def test_bench_waits_for_the_device_and_returns_the_trials_own_paths(embedded_ray, untrained_tflite, sample_npz):
    from edgecomp.budget_search.device import DeviceLockedTarget, device_resource
    from edgecomp.plan.plan import BenchConfig
    from edgecomp.targets.profiles import resolve_target

    spec = {"name": "host", "overrides": {}, "resource": device_resource("host")}
    target = DeviceLockedTarget(resolve_target("host"), spec)
    assert target.name == "host"  # everything but bench is the wrapped target's

    @ray.remote(num_cpus=0, resources={"device:host": 1})
    class DeviceHolder:  # another trial's benchmark, holding the device
        def ready(self):
            return True

    holder = DeviceHolder.remote()
    ray.get(holder.ready.remote())
    outcomes = []
    settings = BenchConfig(warmup=1, min_runs=5, min_time_s=0, accuracy_samples=50)
    worker = threading.Thread(target=lambda: outcomes.extend(target.bench([untrained_tflite], sample_npz, settings)))
    worker.start()
    worker.join(timeout=15)
    assert worker.is_alive() and not outcomes  # no benchmark while the device is held
    ray.kill(holder)
    worker.join(timeout=600)
    assert len(outcomes) == 1 and outcomes[0].ok, outcomes
    assert outcomes[0].artifact == untrained_tflite  # not the device task's temporary copy
    assert outcomes[0].result["latency_ms"]["p50"] > 0


def test_a_cluster_without_the_device_resource_is_refused_before_any_trial(tmp_path):
    from edgecomp.budget_search.runner import SearchRequest, start_ray
    from edgecomp.core.errors import TargetError

    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)  # no device:rpi4 on it
    try:
        request = SearchRequest(experiment=tmp_path, plan={}, train_stage={}, space={}, model_is_file=False, budget={},
                                targets=[{"name": "rpi4", "overrides": {}, "resource": "device:rpi4"}])
        with pytest.raises(TargetError, match="no 'device:rpi4' resource.*--resources '\\{\"device:rpi4\": 1\\}'"):
            start_ray(request)
    finally:
        ray.shutdown()
