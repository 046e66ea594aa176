"""A whole build on an RGB image folder with a non-default normalisation and augmentation: the one
normalisation reaches training, calibration, parity, the runner's sample and the model card."""

import json

import pytest
from typer.testing import CliRunner

from edgecomp.cli.main import app

PLAN = """
name: folder
model: cnn-tiny
dataset: {{name: "{folder}", size: [24, 24], normalization: symmetric, train_limit: 600, test_limit: 200}}
stages:
  - {{stage: train, epochs: 3, batch_size: 32, learning_rate: 0.003, augment: {{flip: true, shift: 1}}}}
  - {{stage: quantize, modes: [int8], calibration_samples: 100}}
export: {{formats: [tflite], parity_samples: 100}}
bench: {{warmup: 2, min_runs: 20, min_time_s: 0.05}}
"""


@pytest.mark.slow
def test_folder_build_with_symmetric_normalisation(fmnist_folder, tmp_path):
    folder, broken = fmnist_folder
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(folder=folder))
    result = CliRunner().invoke(app, ["build", "--config", str(plan), "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    dataset = report["dataset"]
    assert dataset["input_shape"] == [24, 24, 3]
    assert dataset["normalization"].startswith("symmetric: x = pixel * 0.00784314 + -1")
    assert [item["path"] for item in dataset["skipped_files"]] == [str(broken)]
    assert "broken.jpg" in (tmp_path / "run" / "report.md").read_text()
    train = report["stages"][0]["info"]
    assert train["augment"]["flip"] is True and train["augment"]["shift_pixels"] == 1
    assert train["bn_statistics"]["reestimated"] is True
    keras_accuracy = report["keras"]["accuracy"]
    assert keras_accuracy > 0.3  # it learnt from [-1, 1] inputs (3x chance), so equal runner accuracy means something
    for artifact in report["artifacts"]:
        assert artifact["status"] == "ok", artifact.get("error")
        assert artifact["parity"]["passed"]
        # The runner normalised its sample like training did: same accuracy as Keras, not chance.
        assert artifact["accuracy"] == pytest.approx(keras_accuracy, abs=0.05)
        card = json.loads((tmp_path / "run" / artifact["model_card"]).read_text())
        assert card["normalization"]["name"] == "symmetric"
