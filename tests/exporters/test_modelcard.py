"""Model cards: labels.txt and <artifact>.json with what an app needs to feed and read the model."""

import json

from edgecomp.core.records import ArtifactRecord, Measurement
from edgecomp.exporters.modelcard import write_model_card
from edgecomp.exporters.tflite import keras_to_tflite


def test_uint8_card_says_raw_pixels(tiny_model, fmnist_small, tmp_path):
    path = keras_to_tflite(tiny_model, tmp_path / "model_uint8_io.tflite", "uint8_io", fmnist_small.images("train", 50))
    record = ArtifactRecord(name=path.name, format="tflite", precision="uint8_io", path=path.name,
                            parity={"passed": True})
    record.measurement = Measurement.from_runner(
        {"accuracy": 0.8, "accuracy_samples": 100, "latency_ms": {}, "latencies_ms": [], "runs": 1, "init_ms": None,
         "model_load_mb": None, "model_peak_mb": None, "process_peak_mb": None, "runtime": {}, "io": {}, "threads": 1})
    card = json.loads(write_model_card(path, fmnist_small, record).read_text())
    assert card["input"]["dtype"] == "uint8" and card["input"]["zero_point"] == 0
    assert "raw pixels" in card["how_to_feed"]
    assert card["class_names"] == fmnist_small.class_names and card["accuracy"] == 0.8
    assert card["accuracy_samples"] == 100 and card["parity"]["passed"] is True
    assert "logits" in card["output"]["meaning"]
    assert (tmp_path / "labels.txt").read_text().splitlines() == fmnist_small.class_names


def test_float_card_gives_the_normalisation(tiny_tflite, fmnist_small):
    path = tiny_tflite["float32"]
    record = ArtifactRecord(name=path.name, format="tflite", precision="float32", path=path.name)
    card = json.loads(write_model_card(path, fmnist_small, record).read_text())
    assert card["input"]["scale"] is None and card["input"]["shape"] == [1, 28, 28, 1]
    assert card["how_to_feed"].startswith("float32 input: x = pixel * 0.00392157")
