"""Per-layer node-data files: the numbers come from the file, and Model Explorer's own classes read them back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgecomp.exporters.node_data import GRAPH_ID, layer_table, node_data, write_node_data


def test_layer_table_reads_params_macs_and_bits_from_the_file(tiny_model, tiny_tflite):
    rows = layer_table(tiny_tflite["float32"])
    kernels = [layer for layer in tiny_model.layers if layer.__class__.__name__ in ("Conv2D", "Dense")]
    assert [row["params"] for row in rows] == [int(np.prod(layer.kernel.shape)) for layer in kernels]
    first_conv = kernels[0]
    height, width, channels = first_conv.output_shape[1:]
    assert rows[0]["macs"] == height * width * channels * int(np.prod(first_conv.kernel.shape[:3]))
    assert rows[-1]["macs"] == rows[-1]["params"]  # a Dense layer: one MAC per weight
    assert {row["weight_bits"] for row in rows} == {32} and {row["activation_bits"] for row in rows} == {32}
    int8_rows = layer_table(tiny_tflite["int8"])
    assert {row["weight_bits"] for row in int8_rows} == {8} and {row["activation_bits"] for row in int8_rows} == {8}


def test_zero_weights_are_counted(tiny_model, tmp_path):
    from edgecomp.core.tfenv import keras
    from edgecomp.exporters.tflite import keras_to_tflite

    pruned = keras().models.clone_model(tiny_model)
    pruned.set_weights(tiny_model.get_weights())
    dense = [layer for layer in pruned.layers if layer.__class__.__name__ == "Dense"][-1]
    kernel, bias = dense.get_weights()
    kernel[: kernel.shape[0] // 2] = 0  # half the rows: half the weights
    dense.set_weights([kernel, bias])
    rows = layer_table(keras_to_tflite(pruned, tmp_path / "half.tflite", "float32"))
    assert rows[-1]["zero_weights"] == pytest.approx(0.5, abs=0.01)
    assert rows[0]["zero_weights"] < 0.05


def test_node_data_files_load_with_model_explorers_classes(tiny_tflite, tmp_path):
    dacite = pytest.importorskip("dacite")
    builder = pytest.importorskip("model_explorer.node_data_builder")
    rows = layer_table(tiny_tflite["int8"])
    measured = {"quantization_snr_db": {rows[0]["name"]: 31.5}}
    written = write_node_data(tiny_tflite["int8"], tmp_path, measured)
    assert {path.stem for path in written} == {"params", "macs", "zero_weights", "weight_bits", "activation_bits",
                                               "quantization_snr_db"}
    for path in written:
        document = json.loads(path.read_text())
        graph = dacite.from_dict(builder.GraphNodeData, document[GRAPH_ID])
        model = builder.ModelNodeData(graphsData={GRAPH_ID: graph})
        assert json.loads(model.to_json_string())[GRAPH_ID]["results"] == document[GRAPH_ID]["results"]
    params = json.loads((tmp_path / "params.json").read_text())[GRAPH_ID]["results"]
    assert params == {row["name"]: {"value": row["params"]} for row in rows}
    assert json.loads((tmp_path / "quantization_snr_db.json").read_text())[GRAPH_ID]["results"] == {
        rows[0]["name"]: {"value": 31.5}}


def test_node_names_are_the_names_model_explorer_gives_the_nodes(tiny_tflite, tmp_path):
    """The overlay's keys must match the tensor names Model Explorer's TFLite adapter puts on the nodes."""
    adapter = pytest.importorskip("model_explorer.builtin_tflite_flatbuffer_adapter")
    graphs = adapter.BuiltinTfliteFlatbufferAdapter().convert(str(tiny_tflite["int8"]), {})["graphCollections"]
    graph = next(g for g in graphs[0].graphs if g["id"] == GRAPH_ID)
    tensor_names = {attr["value"] for node in graph["nodes"] for meta in node.get("outputsMetadata", [])
                    for attr in meta["attrs"] if attr["key"] == "tensor_name"}
    assert {row["name"] for row in layer_table(tiny_tflite["int8"])} <= tensor_names


def test_red_marks_the_worst_layers_whichever_way_a_metric_points():
    """More MACs is worse, more SNR is better: the red end goes to the high MACs and to the low SNR."""
    def color_at(metric, stop):
        return next(g["bgColor"] for g in node_data(metric, {"a": 1.0})[GRAPH_ID]["gradient"] if g["stop"] == stop)

    assert color_at("macs", 1) == color_at("quantization_snr_db", 0) == "#ef9a9a"
    assert color_at("macs", 0) == color_at("quantization_snr_db", 1) == "#c8e6c9"
