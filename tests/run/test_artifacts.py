"""The benchmark sample: the dataset's uint8 pixels plus its normalisation, normalising back exactly.
Export failures: a converter's rejection is a failed row with its reason; edgecomp's own bug keeps its traceback."""

import numpy as np
import pytest

from edgecomp.run.artifacts import write_sample


def test_sample_holds_uint8_pixels_that_normalise_back_bit_for_bit(fmnist_small, tmp_path):
    path = write_sample(fmnist_small, tmp_path / "sample.npz", limit=300)
    with np.load(path, allow_pickle=False) as sample:
        x, scale, offset = sample["x"], sample["scale"], sample["offset"]
        assert x.dtype == np.uint8 and x.shape == (300, 28, 28, 1)
        assert sample["y"].tolist() == fmnist_small.labels("test", 300).tolist()
    normalised = (x.astype(np.float64) * scale + offset).astype(np.float32)  # the runner's formula
    assert np.array_equal(normalised, fmnist_small.images("test", 300))
    assert path.stat().st_size < fmnist_small.images("test", 300).nbytes / 3


def test_per_channel_normalisation_travels_with_the_pixels(tmp_path):
    from edgecomp.data.dataset import load_dataset

    rng = np.random.default_rng(0)
    npz = tmp_path / "rgb.npz"
    np.savez(npz, x_train=rng.integers(0, 256, (40, 8, 8, 3)).astype(np.uint8), y_train=np.arange(40) % 2,
             x_test=rng.integers(0, 256, (10, 8, 8, 3)).astype(np.uint8), y_test=np.arange(10) % 2)
    data = load_dataset(str(npz), normalization="imagenet", seed=0)
    with np.load(write_sample(data, tmp_path / "sample.npz", limit=None)) as sample:
        assert sample["scale"].shape == (3,) and sample["offset"].shape == (3,)
        normalised = (sample["x"].astype(np.float64) * sample["scale"] + sample["offset"]).astype(np.float32)
    assert np.allclose(normalised, data.images("test"), atol=1e-6)


def _int8_context(model, data, run_dir, formats):
    """A RunContext whose plan exports float32 and int8 in `formats`, set up by the real quantize stage."""
    from edgecomp.compress.context import RunContext
    from edgecomp.compress.quantize import run_quantize
    from edgecomp.plan.plan import parse_plan

    plan = parse_plan({"model": "cnn-tiny", "export": {"formats": formats, "parity_samples": 50},
                       "stages": [{"stage": "train"},
                                  {"stage": "quantize", "modes": ["int8"], "calibration_samples": 50}]})
    ctx = RunContext(plan=plan, data=data, run_dir=run_dir, model=model)
    run_quantize(ctx, plan.stages[1])
    return ctx


def _raise_injected_bug(*args, **kwargs):
    raise KeyError("injected bug")


@pytest.mark.slow
def test_a_bug_in_the_tflite_calibration_keeps_its_traceback(tiny_model, fmnist_small, tmp_path, monkeypatch):
    """The converter calls edgecomp's calibration generator during convert(): a KeyError raised there is
    edgecomp's bug, so it must leave export_artifacts with its traceback instead of becoming a failed row."""
    import edgecomp.exporters.tflite as tflite_export
    from edgecomp.run.artifacts import export_artifacts

    ctx = _int8_context(tiny_model, fmnist_small, tmp_path, ["tflite"])
    monkeypatch.setattr(tflite_export, "representative_dataset", lambda images: _raise_injected_bug)
    with pytest.raises(KeyError, match="injected bug") as raised:
        export_artifacts(ctx)
    assert raised.traceback[-1].name == "_raise_injected_bug"
    assert any(entry.name == "convert" for entry in raised.traceback)  # raised inside the converter's call


def test_a_bug_in_the_onnx_calibration_reader_keeps_its_traceback(tiny_model, fmnist_small, tmp_path,
                                                                    monkeypatch):
    """onnxruntime's quantize_static reads calibration batches from edgecomp's _ImageReader: its bug
    must surface, not become the int8 ONNX row's reason."""
    from edgecomp.exporters import onnx_quant
    from edgecomp.run.artifacts import export_artifacts

    ctx = _int8_context(tiny_model, fmnist_small, tmp_path, ["onnx"])
    monkeypatch.setattr(onnx_quant._ImageReader, "get_next", _raise_injected_bug)
    with pytest.raises(KeyError, match="injected bug") as raised:
        export_artifacts(ctx)
    assert raised.traceback[-1].name == "_raise_injected_bug"


def test_a_model_the_converters_reject_is_a_failed_row_with_the_reason(fmnist_small, tmp_path):
    """A real rejection: SVD has no TFLite builtin and no ONNX op, so the TFLite converter raises its
    ConverterError and tf2onnx writes a graph the onnx checker refuses. Each is a failed row naming the op."""
    from edgecomp.compress.context import RunContext
    from edgecomp.core.tfenv import keras, tf
    from edgecomp.plan.plan import parse_plan
    from edgecomp.run.artifacts import export_artifacts

    layers = keras().layers
    inputs = keras().Input(fmnist_small.input_shape)
    singular_values = layers.Lambda(lambda t: tf().linalg.svd(t, compute_uv=False))(layers.Reshape((28, 28))(inputs))
    model = keras().Model(inputs, layers.Dense(fmnist_small.num_classes)(singular_values), name="svd_net")
    plan = parse_plan({"model": "cnn-tiny", "export": {"formats": ["tflite", "onnx"], "parity_samples": 50},
                       "stages": [{"stage": "train"}]})
    records = export_artifacts(RunContext(plan=plan, data=fmnist_small, run_dir=tmp_path, model=model))
    assert [(r.format, r.status) for r in records] == [("tflite", "failed"), ("onnx", "failed")]
    assert "TFLite float32 conversion of svd_net failed" in records[0].error and "Svd" in records[0].error
    assert "ONNX export" in records[1].error and "Svd" in records[1].error
    assert not any((tmp_path / r.path).exists() for r in records)
def test_a_file_its_runtime_refuses_is_a_failed_row_and_the_build_goes_on(fmnist_small, tmp_path, monkeypatch):
    """A real refusal: a file holding SVD as a custom op (the converter's allow_custom_ops), which LiteRT's
    interpreter has no kernel for, fails to prepare in the parity check. That file is a failed row naming LiteRT and the op, kept
    on disk to inspect; the plan's other files are exported and checked as usual."""
    from edgecomp.compress.context import RunContext
    from edgecomp.core.tfenv import keras, tf
    from edgecomp.plan.plan import parse_plan
    from edgecomp.run import artifacts

    layers = keras().layers
    inputs = keras().Input(fmnist_small.input_shape)
    singular_values = layers.Lambda(lambda t: tf().linalg.svd(t, compute_uv=False))(layers.Reshape((28, 28))(inputs))
    svd_net = keras().Model(inputs, layers.Dense(fmnist_small.num_classes)(singular_values), name="svd_net")

    def write_with_a_custom_op(_record, path):
        converter = tf().lite.TFLiteConverter.from_keras_model(svd_net)
        converter.allow_custom_ops = True
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(converter.convert())

    plan = parse_plan({"model": "cnn-tiny", "export": {"formats": ["tflite"], "parity_samples": 20},
                       "stages": [{"stage": "train"}, {"stage": "quantize", "modes": ["float16"]}]})
    ctx = RunContext(plan=plan, data=fmnist_small, run_dir=tmp_path, model=svd_net)
    planned = artifacts.planned_files(ctx, tmp_path / "artifacts")
    custom = artifacts.PlannedFile(tmp_path / "artifacts" / "svd_custom.tflite", "tflite", "float32", svd_net,
                                   write_with_a_custom_op)
    monkeypatch.setattr(artifacts, "planned_files", lambda *_: [custom, *planned])
    records = artifacts.export_artifacts(ctx)
    refused = records[0]
    assert refused.status == "failed" and refused.parity is None
    assert refused.error.startswith("LiteRT cannot run svd_custom.tflite") and "Svd" in refused.error
    assert (tmp_path / refused.path).is_file()
    assert [r.status for r in records[1:]] and all(r.parity is not None for r in records[1:] if r.status == "ok")


def test_bench_records_a_targets_flags_as_fields_and_its_notes_apart(fmnist_small, tmp_path):
    """A real float32 file benchmarked on this machine; the labels an emulated board adds (QEMU cannot
    run in the fast tests: tests/targets/test_arm64_emulated.py does it for real) are set by a HostTarget
    subclass, with notes named like measured fields that must not replace them."""
    from edgecomp.core.emulation import is_emulated
    from edgecomp.core.records import ArtifactRecord
    from edgecomp.exporters.tflite import keras_to_tflite
    from edgecomp.models.zoo import build_zoo_model
    from edgecomp.plan.plan import BenchConfig
    from edgecomp.reporting.gates import bound_violations
    from edgecomp.run.artifacts import bench_artifacts
    from edgecomp.targets.emulated import host_cross_check
    from edgecomp.targets.host import HostTarget

    class LabelledLikeAnEmulatedBoard(HostTarget):
        def bench(self, artifacts, sample, settings):
            outcomes = super().bench(artifacts, sample, settings)
            for outcome in outcomes:
                outcome.emulated = True
                outcome.host_check = host_cross_check(outcome, outcome)
                outcome.notes.update({"emulated": False, "accuracy": -1.0, "temperature_c_before": 48.3})
            return outcomes

    model = build_zoo_model("cnn-tiny", fmnist_small.input_shape, fmnist_small.num_classes)
    keras_to_tflite(model, tmp_path / "m.tflite")
    record = ArtifactRecord(name="m.tflite", format="tflite", precision="float32", path="m.tflite")
    settings = BenchConfig(warmup=0, min_runs=3, min_time_s=0, max_runs=3, accuracy_samples=50)
    bench_artifacts([record], fmnist_small, tmp_path, LabelledLikeAnEmulatedBoard(), settings)
    entry = record.to_dict()
    assert record.status == "ok" and entry["runs"] == 3 and entry["accuracy_samples"] == 50
    assert 0.0 <= entry["accuracy"] <= 1.0 and entry["accuracy_source"] == "target"
    assert entry["emulated"] is True and is_emulated(entry)
    assert entry["host_accuracy"] == entry["accuracy"] and entry["accuracy_vs_host_points"] == 0.0
    assert entry["target_notes"] == {"emulated": False, "accuracy": -1.0, "temperature_c_before": 48.3}
    # The flag, not the note, decides: a latency gate cannot be checked on an emulator's numbers.
    assert "measured under emulation" in bound_violations("m.tflite", entry, None, 1000.0, None)[0]
