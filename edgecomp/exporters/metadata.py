"""Class labels and input normalisation embedded in every exported `.tflite` and `.onnx`.

TFLite: the official TFLite model metadata, as LiteRT's metadata tools (tflite-support's
`MetadataDisplayer`, mediapipe's `metadata_writers`) write and read it: a `ModelMetadata` flatbuffer
(schema `metadata_schema.fbs`, version 1.5.0) stored in a model buffer named `TFLITE_METADATA`, with
`labels.txt` (TENSOR_AXIS_LABELS on the output tensor) appended to the file as a zip archive.
Neither maintained writer installs beside TensorFlow 2.21 (tflite-support 0.4.4 needs protobuf<4,
TensorFlow 2.21 protobuf>=6.31.1; mediapipe 1.2.2 needs absl-py~=2.3, tensorflow-model-optimization
0.8.1 absl-py~=1.2; both checked with pip's resolver; mediapipe 1.2.2's metadata module does not
even import, its `mediapipe.tasks.cc` extension missing from the wheel), so this module writes it the way
tflite-support's `MetadataPopulator` does: the metadata is built with the schema's flatc-generated
Python (vendored in `edgecomp/exporters/schema/`, from mediapipe 1.2.2), the model is unpacked and
repacked with LiteRT's own generated TFLite schema (`ai_edge_litert.schema_py_generated`), and the
labels are appended with `zipfile`; buffer data starts on 16 bytes (the schema's `force_align: 16`). The tests
read it back with tflite-support's MetadataDisplayer and check the outputs do not change.

ONNX: `metadata_props` (labels, normalisation, precision, edgecomp version) and a batch dimension
named `batch` on the graph's inputs and outputs.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgecomp.core.errors import ExportError, first_line
from edgecomp.core.files import write_bytes_atomically
from edgecomp.core.version import __version__
from edgecomp.exporters.schema import metadata_schema_py_generated as md

TFLITE_METADATA_NAME = "TFLITE_METADATA"  # the buffer name LiteRT's metadata readers look for
TFLITE_FILE_IDENTIFIER = b"TFL3"
LABELS_FILE = "labels.txt"
# The oldest metadata parser that understands every field written here: name, description,
# version, content properties, NormalizationOptions, stats and a TENSOR_AXIS_LABELS file are all
# schema 1.0.0 (tflite-support's own version calculator gives 1.0.0 for the same metadata).
MIN_PARSER_VERSION = "1.0.0"
BATCH_DIM_NAME = "batch"


@dataclass(frozen=True)
class ArtifactMetadata:
    """What an app needs besides the file: class names and the pixel normalisation x = pixel * scale + offset.

    `scale` and `offset` hold one value for all channels or one per channel.
    """

    name: str
    class_names: tuple[str, ...]
    scale: tuple[float, ...]
    offset: tuple[float, ...]
    precision: str
    version: str = __version__

    @classmethod
    def create(cls, name: str, class_names: Sequence[str], normalization, precision: str) -> ArtifactMetadata:
        """Builds the record from a dataset's `normalization`: an `edgecomp.data.normalization.Normalization`
        or a mapping {scale, offset}, each a number or a list.

        Raises:
            ExportError: no class names, a zero scale, or scale and offset lists of different lengths.
        """
        if not isinstance(normalization, dict):  # the Normalization record: the same two fields
            normalization = {"scale": list(normalization.scale), "offset": list(normalization.offset)}
        scale, offset = _as_tuple(normalization.get("scale")), _as_tuple(normalization.get("offset", 0.0))
        if not class_names:
            raise ExportError(f"cannot describe {name}: the dataset has no class names to embed as labels.")
        if "scale" not in normalization:
            raise ExportError(f"normalisation {normalization!r} has no 'scale': expected {{scale, offset}} meaning "
                              "x = pixel * scale + offset, each a number or one per channel.")
        if not scale or any(value == 0 for value in scale):
            raise ExportError(f"normalisation scale {normalization.get('scale')!r} must be non-zero numbers.")
        if len(scale) != len(offset) and 1 not in (len(scale), len(offset)):
            raise ExportError(f"normalisation scale has {len(scale)} values but offset {len(offset)}: "
                              "give one value, or one per channel for both.")
        if len(scale) != len(offset):  # one number stands for every channel
            width = max(len(scale), len(offset))
            scale, offset = scale * (width // len(scale)), offset * (width // len(offset))
        return cls(name, tuple(str(c) for c in class_names), scale, offset, precision)

    @property
    def mean(self) -> list[float]:
        """TFLite's NormalizationOptions convention x = (pixel - mean) / std, so mean = -offset / scale."""
        return [-o / s + 0.0 for s, o in zip(self.scale, self.offset)]  # + 0.0: no -0.0

    @property
    def std(self) -> list[float]:
        return [1.0 / s for s in self.scale]

    @property
    def description(self) -> str:
        return (f"{self.precision} image classifier over {len(self.class_names)} classes, exported by "
                f"edgecomp {self.version}. Input: x = pixel * scale + offset per channel "
                f"(scale {_short(self.scale)}, offset {_short(self.offset)}); output: logits.")

    def onnx_props(self) -> dict[str, str]:
        """The `metadata_props` of an ONNX file (values are strings; lists and dicts as JSON)."""
        return {
            "name": self.name,
            "description": self.description,
            "labels": json.dumps(list(self.class_names)),
            "normalization": json.dumps({"scale": list(self.scale), "offset": list(self.offset),
                                         "mean": self.mean, "std": self.std,
                                         "formula": "x = pixel * scale + offset = (pixel - mean) / std"}),
            "precision": self.precision,
            "edgecomp_version": self.version,
        }

def _as_tuple(value) -> tuple[float, ...]:
    """A number, list or array (numpy scalars included) as a tuple of floats; () for None."""
    import numpy as np

    if value is None:
        return ()
    try:
        return tuple(float(v) for v in np.atleast_1d(np.asarray(value, dtype=np.float64)).ravel())
    except (TypeError, ValueError) as err:
        raise ExportError(f"normalisation value {value!r} is not a number or a list of numbers.") from err

def _short(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:.6g}" for v in values)

def embed_metadata(path: Path, metadata: ArtifactMetadata) -> Path:
    """Rewrites the `.tflite` or `.onnx` at `path` with `metadata` embedded (atomically).

    Raises:
        ExportError: the file is neither format, or cannot be read as one.
    """
    path = Path(path)
    if path.suffix == ".tflite":
        return write_bytes_atomically(path, tflite_with_metadata(path.read_bytes(), metadata))
    if path.suffix == ".onnx":
        return write_bytes_atomically(path, onnx_with_metadata(path.read_bytes(), metadata))
    raise ExportError(f"cannot embed metadata in {path.name}: expected a .tflite or .onnx file.")

def tflite_with_metadata(model_bytes: bytes, metadata: ArtifactMetadata) -> bytes:
    """The `.tflite` flatbuffer with a TFLITE_METADATA buffer and `labels.txt` appended as a zip.

    Raises:
        ExportError: the bytes are not a TFLite model, or it has not exactly one input and one output.
    """
    from ai_edge_litert import schema_py_generated as tfl

    try:
        model = tfl.ModelT.InitFromObj(tfl.Model.GetRootAsModel(model_bytes, 0))
    except Exception as err:  # noqa: BLE001 - flatbuffers raises struct.error, IndexError... on garbage
        raise ExportError(f"cannot read {metadata.name} as a TFLite model: {first_line(err)}") from err
    _inline_external_buffers(model, model_bytes)
    graph = model.subgraphs[0]
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ExportError(f"{metadata.name} has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
                          "edgecomp describes image classifiers with one of each.")
    channels = int(graph.tensors[graph.inputs[0]].shape[-1])
    if len(metadata.scale) not in (1, channels):
        raise ExportError(f"normalisation has {len(metadata.scale)} values for a {channels}-channel input: "
                          f"give one value, or {channels}.")
    _set_metadata_buffer(model, _metadata_flatbuffer(metadata, channels))
    # Repacking drops whatever followed the flatbuffer, so a file that already carried metadata
    # gets exactly one labels archive, the new one.
    builder = _aligned_builder()
    builder.Finish(model.Pack(builder), TFLITE_FILE_IDENTIFIER)
    archive = io.BytesIO()
    archive.write(bytes(builder.Output()))
    # Appending to non-zip bytes starts a new archive after them; readers find it from the end.
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr(LABELS_FILE, "\n".join(metadata.class_names) + "\n")
    return archive.getvalue()

def _inline_external_buffers(model, model_bytes: bytes) -> None:
    """Buffers stored after the flatbuffer (`offset`, `size`) become inline data, since repacking writes the
    flatbuffer alone. The AI Edge Quantizer stores a model's weights that way once they pass 256 kB; kept as
    offsets, the repacked file pointed past its own end ("Constant buffer N specified an out of range offset")."""
    import numpy as np

    for buffer in model.buffers:
        if buffer.offset and buffer.offset > 1:  # 0: inline; 1: the writer's placeholder, never real data
            if buffer.offset + buffer.size > len(model_bytes):
                raise ExportError(f"buffer at offset {buffer.offset} (+{buffer.size} bytes) lies past the end of "
                                  f"the {len(model_bytes)}-byte file: it is truncated")
            buffer.data = np.frombuffer(model_bytes, np.uint8, count=buffer.size, offset=buffer.offset).copy()
            buffer.offset, buffer.size = 0, 0


def _set_metadata_buffer(model, metadata_bytes: bytes) -> None:
    """Puts `metadata_bytes` in the buffer named TFLITE_METADATA, replacing an older one."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as tfl

    buffer = tfl.BufferT()
    buffer.data = np.frombuffer(metadata_bytes, np.uint8)
    model.metadata = model.metadata or []
    for entry in model.metadata:
        if entry.name.decode() == TFLITE_METADATA_NAME:
            model.buffers[entry.buffer] = buffer
            return
    model.buffers.append(buffer)
    entry = tfl.MetadataT()
    entry.name = TFLITE_METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)

def _aligned_builder():
    """A flatbuffers Builder that starts every byte vector on 16 bytes.

    TFLite's schema asks for `data:[ubyte] (force_align: 16)` on buffers, but the generated Python
    Pack ignores force_align and aligns them to 1 byte; kernels and delegates that read weights in
    place from a memory-mapped file are safer with the alignment the schema asks for.
    """
    import flatbuffers
    import numpy as np

    class AlignedBuilder(flatbuffers.Builder):
        def CreateNumpyVector(self, x):  # flatbuffers' method name
            if x.dtype != np.uint8:
                return super().CreateNumpyVector(x)
            payload = x.tobytes()
            self.StartVector(1, len(payload), 16)
            self.head -= len(payload)
            self.Bytes[self.head:self.head + len(payload)] = payload
            self.vectorNumElems = len(payload)
            return self.EndVector()

    return AlignedBuilder(1024)

def _metadata_flatbuffer(metadata: ArtifactMetadata, channels: int) -> bytes:
    """The ModelMetadata flatbuffer (file identifier M001) for an image classifier."""
    import flatbuffers

    model = md.ModelMetadataT()
    model.name = metadata.name
    model.description = metadata.description
    model.version = metadata.version
    model.author = "edgecomp"
    model.minParserVersion = MIN_PARSER_VERSION
    graph = md.SubGraphMetadataT()
    graph.inputTensorMetadata = [_image_input(metadata, channels)]
    graph.outputTensorMetadata = [_logits_output(metadata)]
    model.subgraphMetadata = [graph]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), b"M001")
    return bytes(builder.Output())

def _image_input(metadata: ArtifactMetadata, channels: int):

    image = md.ImagePropertiesT()
    image.colorSpace = md.ColorSpaceType.GRAYSCALE if channels == 1 else md.ColorSpaceType.RGB
    tensor = md.TensorMetadataT()
    tensor.name = "image"
    tensor.description = ("Image pixels normalised as x = (pixel - mean) / std; an int8/uint8 input tensor "
                          "then takes its own quantization scale and zero point.")
    tensor.content = md.ContentT()
    tensor.content.contentProperties = image
    tensor.content.contentPropertiesType = md.ContentProperties.ImageProperties
    normalization = md.NormalizationOptionsT()
    normalization.mean, normalization.std = metadata.mean, metadata.std
    unit = md.ProcessUnitT()
    unit.optionsType = md.ProcessUnitOptions.NormalizationOptions
    unit.options = normalization
    tensor.processUnits = [unit]
    stats = md.StatsT()  # the range of x for pixels 0..255, as tflite-support's writers record it
    stats.min = [(0 - m) / s for m, s in zip(metadata.mean, metadata.std)]
    stats.max = [(255 - m) / s for m, s in zip(metadata.mean, metadata.std)]
    tensor.stats = stats
    return tensor

def _logits_output(metadata: ArtifactMetadata):

    labels = md.AssociatedFileT()
    labels.name = LABELS_FILE
    labels.description = "Class names, one per line, in the order of the output's last axis."
    labels.type = md.AssociatedFileType.TENSOR_AXIS_LABELS
    tensor = md.TensorMetadataT()
    tensor.name = "logits"
    tensor.description = f"Logits over {len(metadata.class_names)} classes (apply softmax for probabilities)."
    tensor.content = md.ContentT()
    tensor.content.contentProperties = md.FeaturePropertiesT()
    tensor.content.contentPropertiesType = md.ContentProperties.FeatureProperties
    tensor.stats = md.StatsT()
    tensor.associatedFiles = [labels]
    return tensor

def onnx_with_metadata(model_bytes: bytes, metadata: ArtifactMetadata) -> bytes:
    """The ONNX model with `metadata_props` set and its batch dimension named `batch`.

    Raises:
        ExportError: the bytes are not an ONNX model.
    """
    import onnx

    try:
        model = onnx.load_from_string(model_bytes)
    except Exception as err:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise ExportError(f"cannot read {metadata.name} as an ONNX model: {first_line(err)}") from err
    props = {p.key: p.value for p in model.metadata_props}
    props.update(metadata.onnx_props())
    onnx.helper.set_model_props(model, props)
    name_batch_dimension(model.graph)
    return model.SerializeToString()

def name_batch_dimension(graph) -> None:
    """Names the first dimension of every graph input and output `batch` where it is not a fixed size.

    tf2onnx leaves it as an anonymous symbol (`unk__12`); that symbol is renamed everywhere in the
    graph's value_info too, so shape inference keeps seeing one batch size. A fixed size is left as
    it is: the graph may depend on it.
    """
    renamed = set()
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            if dims[0].dim_param:
                renamed.add(dims[0].dim_param)
            dims[0].dim_param = BATCH_DIM_NAME
    for value in graph.value_info:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in renamed:
                dim.dim_param = BATCH_DIM_NAME
