"""The op-profile parser on benchmark_model output from public runs and from LiteRT's sources.

Transcripts (headers name their file and commit): a TF 2.8-era run with the [start] column and tabs,
a LiteRT run whose XNNPACK kernels and comma-holding names came through with tabs turned into spaces,
and the CSV output mode rebuilt from LiteRT's formatter and StatsCalculator sources.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgecomp.targets.op_profile import parse_op_profile, top_nodes

TRANSCRIPTS = Path(__file__).parent / "transcripts"


def transcript(name: str) -> str:
    return "\n".join(line for line in (TRANSCRIPTS / name).read_text().splitlines() if not line.startswith("# "))


def test_text_tables_with_the_start_column():
    profile = parse_op_profile(transcript("op_profile_text_start_column.txt"))
    assert profile["format"] == "text"
    nodes = profile["nodes"]
    assert len(nodes) == 31  # "31 nodes observed": the initialization profile's AllocateTensors is not one
    assert nodes[0] == {"node_type": "CONV_2D", "name": "[MobilenetV1/MobilenetV1/Conv2d_0/Relu6]:0",
                        "first_ms": 87.754, "avg_ms": 60.957, "percent": 2.066, "cdf_percent": 2.066,
                        "mem_kb": 0.0, "times_called": 1, "ms_per_run": 60.957}
    assert nodes[-1]["node_type"] == "SOFTMAX" and nodes[-1]["cdf_percent"] == 100.0
    assert sum(node["percent"] for node in nodes) == pytest.approx(100.0, abs=0.02)
    assert [t["node_type"] for t in profile["node_types"]] == ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D",
                                                               "SOFTMAX", "SQUEEZE"]
    assert profile["node_types"][0]["count"] == 15 and profile["node_types"][0]["avg_ms"] == 2651.853
    assert [n["name"] for n in top_nodes(profile, 2)] == ["[MobilenetV1/MobilenetV1/Conv2d_5_pointwise/Relu6]:10",
                                                         "[MobilenetV1/MobilenetV1/Conv2d_8_pointwise/Relu6]:16"]


def test_litert_text_tables_with_delegate_kernels_and_spaces_for_tabs():
    profile = parse_op_profile(transcript("op_profile_text_litert_xnnpack.txt"))
    nodes = profile["nodes"]
    assert len(nodes) == 24 and nodes[0]["name"] == "[tfl.quantize]:0"  # the "INFO: " prefix is not a row
    dwconv = nodes[2]
    assert dwconv["node_type"] == "Convolution (NHWC, QC8) DWConv"
    assert dwconv["name"] == "Delegate/Convolution (NHWC, QC8) DWConv:1"
    assert dwconv["times_called"] == 13 and dwconv["ms_per_run"] == pytest.approx(0.051 * 13)
    types = {t["node_type"]: t for t in profile["node_types"]}
    assert len(types) == 11 and types["Add (ND, QS8)"]["times_called"] == 42
    assert types["TFLite_Detection_PostProcess"]["percent"] == 23.973
    assert "ModifyGraphWithDelegate" not in types  # the initialization profile is skipped


def test_csv_output_mode_with_commas_in_types_and_tabs_in_names():
    profile = parse_op_profile(transcript("op_profile_csv_litert.csv.txt"))
    assert profile["format"] == "csv" and len(profile["nodes"]) == 5
    igemm = profile["nodes"][1]
    assert igemm["node_type"] == "Convolution (NHWC, QC8) IGEMM" and igemm["first_ms"] == 0.398
    assert igemm["name"] == "Delegate/Convolution (NHWC, QC8) IGEMM:0"  # its tab is a comma again
    post = top_nodes(profile, 1)[0]
    assert post["name"] == ("[StatefulPartitionedCall:3, StatefulPartitionedCall:2, StatefulPartitionedCall:1, "
                            "StatefulPartitionedCall:0]:266")
    assert [t["avg_ms"] for t in profile["node_types"]] == [5.236, 4.46, 3.653]


def test_output_without_a_run_profile_is_none():
    assert parse_op_profile(transcript("info_percentiles_peak_memory.txt")) is None
    init_only = transcript("op_profile_text_start_column.txt").split("Operator-wise Profiling Info")[0]
    assert parse_op_profile(init_only) is None


def test_csv_output_mode_of_older_versions_with_the_start_column():
    profile = parse_op_profile(transcript("op_profile_csv_tf_start_column.csv.txt"))
    assert profile["format"] == "csv" and len(profile["nodes"]) == 3
    assert profile["nodes"][1] == {"node_type": "DEPTHWISE_CONV_2D",
                                   "name": "[MobilenetV1/MobilenetV1/Conv2d_1_depthwise/Relu6]:1", "first_ms": 53.628,
                                   "avg_ms": 49.87, "percent": 1.691, "cdf_percent": 3.757, "mem_kb": 0.0,
                                   "times_called": 1, "ms_per_run": 49.87}  # the start column is not "first"
    assert [t["node_type"] for t in profile["node_types"]] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
