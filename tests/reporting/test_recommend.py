"""The artifact to ship: the most accurate one meeting the gates, else the smallest within 1 point."""

from edgecomp.reporting.recommend import recommend


def test_without_gates_the_smallest_within_one_point(build_report):
    # float32 .tflite 91.12% (1.93 MB), int8 .tflite 90.98% (498 kB); the parity-failed .onnx is no candidate.
    picked = recommend(build_report, gates={})
    assert picked["name"] == "model_int8.tflite" and picked["rule"] == "within_1pt"


def test_more_than_one_point_lost_is_not_within(build_report):
    build_report["artifacts"][1]["accuracy"] = 0.9011  # 1.01 points below the float32 file
    assert recommend(build_report, gates={})["name"] == "model_float32.tflite"


def test_with_gates_the_most_accurate_that_meets_them(build_report):
    assert recommend(build_report, gates={"max_size_mb": 5})["name"] == "model_float32.tflite"
    assert recommend(build_report, gates={"max_size_mb": 1})["name"] == "model_int8.tflite"
    none = recommend(build_report, gates={"max_size_mb": 0.1, "min_accuracy": None})
    assert none["name"] is None and none["rule"] == "gates" and "--max-size-mb 0.1" in none["reason"]


def test_the_original_float32_model_is_the_baseline_not_a_candidate(build_report):
    original = dict(build_report["artifacts"][0], name="model_original_float32.tflite", role="original",
                    accuracy=0.9295)
    build_report["artifacts"].insert(0, original)
    # The teacher is 1.83 points more accurate, but the compressed files are the candidates.
    assert recommend(build_report, gates={})["name"] == "model_int8.tflite"
    build_report["artifacts"] = [original]
    assert recommend(build_report, gates={})["name"] == "model_original_float32.tflite"


def test_the_gates_given_are_recorded_and_used(build_report):
    build_report["gates"] = {"max_size_mb": 5, "max_latency_ms": None, "min_accuracy": None, "scope": "every"}
    assert recommend(build_report)["name"] == "model_float32.tflite"
