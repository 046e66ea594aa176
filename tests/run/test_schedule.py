"""Schedules sized by optimizer steps: a small dataset gets at least the preset's step budget."""

from __future__ import annotations

import numpy as np
import pytest

from edgecomp.data.dataset import load_dataset
from edgecomp.plan.plan import PRESETS, parse_plan
from edgecomp.run.schedule import sized_to_data


@pytest.fixture(scope="module")
def folder_2000(tmp_path_factory):
    """2,000 real Fashion-MNIST images as PNG files, one sub-folder per class."""
    from PIL import Image

    from edgecomp.data.dataset import fashion_mnist

    raw, folder = fashion_mnist(), tmp_path_factory.mktemp("folder_2000")
    for index in range(2000):
        class_dir = folder / f"class_{int(raw.y_test[index])}"
        class_dir.mkdir(exist_ok=True)
        Image.fromarray(raw.x_test[index, ..., 0]).save(class_dir / f"{index}.png")
    return folder


@pytest.mark.parametrize("preset", ["fast", "quality"])
def test_a_2000_image_folder_gets_at_least_the_presets_steps(folder_2000, preset):
    data = load_dataset(str(folder_2000), size=(28, 28), channels=1)
    plan = parse_plan({"model": "mine/model.keras", "preset": preset, "dataset": {"name": str(folder_2000)}})
    for stage in plan.stages[1:]:  # distill, prune, qat
        budget = PRESETS[preset][stage.stage]["min_steps"]
        sized, record = sized_to_data(stage, data, preset)
        assert record["steps"] >= budget and sized.epochs == record["epochs"] > stage.epochs, record
        assert record["steps"] == record["epochs"] * record["steps_per_epoch"]
        assert record["planned_epochs"] == stage.epochs and f"min_steps {budget:,}" in record["why"]


def test_full_fashion_mnist_keeps_its_epochs_and_a_plans_own_epochs_win(fmnist_small):
    full = load_dataset("fashion_mnist")
    plan = parse_plan({})
    for stage in plan.stages[1:]:
        sized, record = sized_to_data(stage, full, "fast")
        assert sized.epochs == stage.epochs and "why" not in record  # 380 steps per epoch: the budget is met
    own = parse_plan({"stages": [{"stage": "train"}, {"stage": "distill", "epochs": 2}]}).stages[1]
    assert own.min_steps is None
    sized, record = sized_to_data(own, fmnist_small, "fast")
    assert sized.epochs == 2 and record["steps"] == 2 * int(np.ceil(fmnist_small.count("train") / 128))


def test_a_one_shot_prune_stays_one_shot(fmnist_small):
    stage = parse_plan({"stages": [{"stage": "train"}, {"stage": "prune", "epochs": 0, "min_steps": 100}]}).stages[1]
    sized, record = sized_to_data(stage, fmnist_small, "fast")
    assert sized.epochs == 0 and record["steps"] == 0
