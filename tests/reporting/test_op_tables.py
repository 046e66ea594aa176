"""The per-op tables on op profiles parsed from public benchmark_model runs (tests/targets/transcripts)."""

from __future__ import annotations

from pathlib import Path

from edgecomp.reporting import cells
from edgecomp.reporting.markdown import op_profile_markdown
from edgecomp.reporting.op_tables import node_type_comparison, node_type_table, top_nodes_table
from edgecomp.targets.op_profile import parse_op_profile

TRANSCRIPTS = Path(__file__).parents[1] / "targets" / "transcripts"


def profile(name: str) -> dict:
    text = "\n".join(line for line in (TRANSCRIPTS / name).read_text().splitlines() if not line.startswith("# "))
    return parse_op_profile(text)


def two_files() -> dict:
    """A float32 file and an int8 one whose node types overlap (two runs' profiles, for the tables' sake)."""
    float_profile = profile("op_profile_csv_litert.csv.txt")
    int8_profile = profile("op_profile_text_litert_xnnpack.txt")
    return {"artifacts": [{"name": "m_float32.tflite", "precision": "float32", "op_profile": float_profile},
                          {"name": "m_int8.tflite", "precision": "int8", "op_profile": int8_profile},
                          {"name": "m.onnx", "precision": "float32"}]}


def test_top_nodes_and_node_types_of_one_file():
    artifact = two_files()["artifacts"][1]
    top = top_nodes_table(artifact, count=3)
    assert [row[1] for row in top.cells] == ["Delegate/Convolution (NHWC, QC8) DWConv:1",
                                             "Delegate/Convolution (NHWC, QC8) DWConv:7",
                                             "Delegate/Convolution (NHWC, QC8) GEMM:3"]
    assert top.cells[0][2] == "0.663"  # 13 calls x 0.051 ms
    by_type = node_type_table(artifact)
    assert by_type.cells[0] == ["Convolution (NHWC, QC8) GEMM", "62", "5.24", "34.4%"]


def test_node_types_compared_with_the_float32_file():
    table = node_type_comparison(two_files())
    assert table.header == ["node type", "m_float32.tflite ms", "m_int8.tflite ms", "vs m_float32.tflite"]
    rows = {row[0]: row for row in table.cells}
    assert rows["Convolution (NHWC, QC8) GEMM"][1:] == ["5.24", "5.24", "+0.000"]
    assert rows["QUANTIZE"][1:] == [cells.DASH, "0.203", "+0.203"]  # only int8 runs it: all of it is extra time
    assert table.cells[0][0] == "Convolution (NHWC, QC8) GEMM"  # slowest first


def test_markdown_section_only_when_a_file_was_profiled():
    assert op_profile_markdown({"artifacts": [{"name": "m.onnx"}]}) == []
    section = "\n\n".join(op_profile_markdown(two_files()))
    assert section.startswith("## Per-op profile") and "### Node types across files" in section
    assert "### `m.onnx`" not in section


def test_model_explorer_overlay_keys_each_node_by_its_output_tensors(tmp_path):
    from edgecomp.reporting.op_overlay import node_data, write_op_overlays

    report = two_files()
    data = node_data(report["artifacts"][1])
    assert data["results"]["tfl.quantize"] == {"value": 0.203}
    post = ["StatefulPartitionedCall:3", "StatefulPartitionedCall:2", "StatefulPartitionedCall:1",
            "StatefulPartitionedCall:0"]
    from_csv = node_data(report["artifacts"][0])["results"]  # the CSV transcript's run order has that node
    assert all(from_csv[name] == {"value": 3.653} for name in post)  # "[a, b, c, d]:266": four outputs
    assert not any(key.startswith("Delegate/") for key in data["results"])  # delegate kernels have no tensor
    assert [item["stop"] for item in data["gradient"]] == [0, 1]
    written = write_op_overlays(report, tmp_path)
    assert [path.name for path in written] == ["m_float32.op_profile.node_data.json",
                                               "m_int8.op_profile.node_data.json"]


def test_a_file_without_an_op_profile_says_why():
    report = two_files()
    report["artifacts"][2]["op_profile_error"] = "could not download benchmark_model from http://x: offline?"
    section = "\n\n".join(op_profile_markdown(report))
    assert "- no op profile for `m.onnx`: could not download benchmark_model from http://x: offline?" in section
