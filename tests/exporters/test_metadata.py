"""Labels and normalisation embedded in .tflite and .onnx files, read back with the official readers:
tflite-support's MetadataDisplayer (in .venv-tflite-runtime), onnx.load and onnxruntime."""

import json
import shutil

import numpy as np
import pytest

from edgecomp.core.errors import ExportError
from edgecomp.exporters.metadata import ArtifactMetadata, embed_metadata
from edgecomp.exporters.parity import run_tflite
from edgecomp.exporters.tflite_runtime_check import check_artifacts, runtime_python


@pytest.fixture()
def described(tiny_tflite, fmnist_small, tmp_path):
    """Copies of the tiny float32 and int8 files with metadata embedded, beside the plain originals."""
    files = {}
    for precision, plain in tiny_tflite.items():
        path = shutil.copy(plain, tmp_path / f"described_{precision}.tflite")
        meta = ArtifactMetadata.create("cnn_tiny (fashion_mnist)", fmnist_small.class_names,
                                       fmnist_small.normalization, precision)
        files[precision] = embed_metadata(path, meta)
    return files


@pytest.fixture(scope="module")
def onnx_files(tiny_model, fmnist_small, tmp_path_factory):
    """The tiny model as float32 and int8 ONNX, each with metadata embedded."""
    from edgecomp.exporters.onnx import keras_to_onnx
    from edgecomp.exporters.onnx_quant import onnx_to_onnx_int8

    folder = tmp_path_factory.mktemp("onnx_metadata")
    plain = keras_to_onnx(tiny_model, folder / "plain.onnx")
    int8 = onnx_to_onnx_int8(plain, folder / "int8.onnx", fmnist_small.images("train", 50))
    described = shutil.copy(plain, folder / "described.onnx")
    for path, precision in [(described, "float32"), (int8, "int8")]:
        embed_metadata(path, ArtifactMetadata.create("cnn_tiny", fmnist_small.class_names,
                                                     fmnist_small.normalization, precision))
    return {"plain": plain, "float32": described, "int8": int8}


def test_tflite_metadata_reads_back_with_tflite_support(described, fmnist_small, read_tflite_metadata):
    for precision, path in described.items():
        read = read_tflite_metadata(path)
        metadata = read["metadata"]
        assert metadata["name"] == "cnn_tiny (fashion_mnist)"
        assert precision in metadata["description"]
        assert metadata["min_parser_version"] == "1.0.0"
        image = metadata["subgraph_metadata"][0]["input_tensor_metadata"][0]
        normalization = image["process_units"][0]
        assert normalization["options_type"] == "NormalizationOptions"
        # x = pixel / 255 is (pixel - 0) / 255 in TFLite's (pixel - mean) / std convention.
        assert normalization["options"]["mean"] == [0.0]
        assert normalization["options"]["std"] == pytest.approx([255.0])
        assert image["content"]["content_properties"]["color_space"] == "GRAYSCALE"
        labels_file = metadata["subgraph_metadata"][0]["output_tensor_metadata"][0]["associated_files"][0]
        assert (labels_file["name"], labels_file["type"]) == ("labels.txt", "TENSOR_AXIS_LABELS")
        assert read["packed_files"] == ["labels.txt"]
        assert read["labels"].splitlines() == fmnist_small.class_names


def test_tflite_metadata_does_not_change_litert_outputs(tiny_tflite, described, fmnist_small):
    images = fmnist_small.images("test", 64)
    for precision in tiny_tflite:
        assert described[precision].stat().st_size > tiny_tflite[precision].stat().st_size
        np.testing.assert_array_equal(run_tflite(described[precision], images),
                                      run_tflite(tiny_tflite[precision], images))


@pytest.mark.skipif(runtime_python() is None, reason=".venv-tflite-runtime missing")
def test_tflite_with_metadata_runs_in_tflite_runtime_2_14(described):
    results = check_artifacts(list(described.values()))
    for path in described.values():
        assert results[str(path)]["ok"] is True, results[str(path)]


def test_embedding_again_replaces_the_metadata(described, read_tflite_metadata):
    from ai_edge_litert import schema_py_generated as tfl

    path = described["float32"]
    embed_metadata(path, ArtifactMetadata.create("renamed", ["a", "b"], {"scale": 0.5, "offset": -1.0}, "float32"))
    read = read_tflite_metadata(path)
    assert read["metadata"]["name"] == "renamed"
    assert read["packed_files"] == ["labels.txt"] and read["labels"] == "a\nb\n"
    model = tfl.Model.GetRootAsModel(path.read_bytes(), 0)
    names = [model.Metadata(i).Name().decode() for i in range(model.MetadataLength())]
    assert names.count("TFLITE_METADATA") == 1


def test_per_channel_normalisation_on_an_rgb_model(tmp_path, read_tflite_metadata):
    from edgecomp.core.tfenv import keras
    from edgecomp.exporters.tflite import keras_to_tflite

    inputs = keras().Input(shape=(8, 8, 3))
    outputs = keras().layers.Dense(2)(keras().layers.GlobalAveragePooling2D()(inputs))
    path = keras_to_tflite(keras().Model(inputs, outputs), tmp_path / "rgb.tflite")
    # ImageNet-style: x = (pixel / 255 - m) / s per channel, i.e. scale = 1 / (255 s), offset = -m / s.
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    normalization = {"scale": list(1 / (255 * std)), "offset": list(-mean / std)}
    embed_metadata(path, ArtifactMetadata.create("rgb", ["cat", "dog"], normalization, "float32"))
    image = read_tflite_metadata(path)["metadata"]["subgraph_metadata"][0]["input_tensor_metadata"][0]
    assert image["content"]["content_properties"]["color_space"] == "RGB"
    assert image["process_units"][0]["options"]["mean"] == pytest.approx(list(255 * mean), rel=1e-6)
    assert image["process_units"][0]["options"]["std"] == pytest.approx(list(255 * std), rel=1e-6)


def test_onnx_metadata_props_read_back_with_onnx_and_onnxruntime(onnx_files, fmnist_small):
    import onnx
    import onnxruntime

    from edgecomp.core.version import __version__

    for precision in ("float32", "int8"):
        props = {p.key: p.value for p in onnx.load(str(onnx_files[precision])).metadata_props}
        session = onnxruntime.InferenceSession(str(onnx_files[precision]), providers=["CPUExecutionProvider"])
        assert session.get_modelmeta().custom_metadata_map == props
        assert json.loads(props["labels"]) == fmnist_small.class_names
        normalization = json.loads(props["normalization"])
        assert normalization["scale"] == pytest.approx([1 / 255]) and normalization["offset"] == [0.0]
        assert normalization["mean"] == [0.0] and normalization["std"] == pytest.approx([255.0])
        assert props["precision"] == precision and props["edgecomp_version"] == __version__


def test_onnx_batch_dimension_is_named_and_runs_batches_of_1_and_4(onnx_files, fmnist_small):
    import onnxruntime

    images = fmnist_small.images("test", 4)
    plain = onnxruntime.InferenceSession(str(onnx_files["plain"]), providers=["CPUExecutionProvider"])
    expected = plain.run(None, {plain.get_inputs()[0].name: images})[0]  # (4, 10)
    for precision in ("float32", "int8"):
        session = onnxruntime.InferenceSession(str(onnx_files[precision]), providers=["CPUExecutionProvider"])
        assert session.get_inputs()[0].shape[0] == "batch" and session.get_outputs()[0].shape[0] == "batch"
        name = session.get_inputs()[0].name
        four = session.run(None, {name: images})[0]
        one = session.run(None, {name: images[:1]})[0]
        assert four.shape == (4, 10) and one.shape == (1, 10)
        np.testing.assert_allclose(one[0], four[0], rtol=1e-5, atol=1e-5)
        if precision == "float32":  # metadata and a renamed dimension leave the float outputs as they were
            np.testing.assert_array_equal(four, expected)


@pytest.mark.parametrize("normalization, class_names, message", [
    ({"scale": 0.0, "offset": 0.0}, ["a"], "must be non-zero"),
    ({"scale": [1.0, 2.0], "offset": [0.0, 0.0, 0.0]}, ["a"], "2 values but offset 3"),
    ({"scale": 1 / 255, "offset": 0.0}, [], "no class names"),
    ({"mean": [0.5], "std": [0.25]}, ["a"], "has no 'scale'"),
])
def test_bad_metadata_is_a_clear_error(normalization, class_names, message):
    with pytest.raises(ExportError, match=message):
        ArtifactMetadata.create("m", class_names, normalization, "float32")


def test_channel_count_mismatch_and_foreign_files_are_errors(tiny_tflite, tmp_path):
    three_channels = ArtifactMetadata.create("m", ["a"], {"scale": [1.0, 1.0, 1.0], "offset": 0.0}, "float32")
    path = shutil.copy(tiny_tflite["float32"], tmp_path / "gray.tflite")
    with pytest.raises(ExportError, match="3 values for a 1-channel input"):
        embed_metadata(path, three_channels)
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ExportError, match="cannot read"):
        embed_metadata(garbage, three_channels)
    with pytest.raises(ExportError, match="expected a .tflite or .onnx"):
        embed_metadata(tmp_path / "notes.txt", three_channels)


def _with_external_weights(model_bytes: bytes) -> bytes:
    """The same model with its largest buffer stored after the flatbuffer (`offset`/`size`), the layout the
    AI Edge Quantizer writes once a model's weights pass 256 kB."""
    from ai_edge_litert import schema_py_generated as tfl

    model = tfl.ModelT.InitFromObj(tfl.Model.GetRootAsModel(model_bytes, 0))
    index = max(range(len(model.buffers)), key=lambda i: 0 if model.buffers[i].data is None
                else len(model.buffers[i].data))
    data = bytes(np.asarray(model.buffers[index].data, np.uint8))
    model.buffers[index].data = None

    def packed(offset: int) -> bytes:
        import flatbuffers

        model.buffers[index].offset, model.buffers[index].size = offset, len(data)
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), b"TFL3")
        return bytes(builder.Output())

    offset = (len(packed(1)) + 15) // 16 * 16  # the offset's value does not change the flatbuffer's length
    flat = packed(offset)
    assert len(flat) <= offset
    return flat + b"\0" * (offset - len(flat)) + data


def test_weights_stored_after_the_flatbuffer_survive_the_metadata(tiny_tflite, fmnist_small, tmp_path):
    external = tmp_path / "external.tflite"
    external.write_bytes(_with_external_weights(tiny_tflite["float32"].read_bytes()))
    images = fmnist_small.images("test", 20)
    expected = run_tflite(tiny_tflite["float32"], images)
    np.testing.assert_allclose(run_tflite(external, images), expected, atol=1e-6)  # LiteRT reads the layout
    embed_metadata(external, ArtifactMetadata.create("cnn_tiny", fmnist_small.class_names,
                                                     fmnist_small.normalization, "float32"))
    np.testing.assert_allclose(run_tflite(external, images), expected, atol=1e-6)
