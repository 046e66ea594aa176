"""`--time-budget`: each training stage's schedule fits its share of the time, sized from the step
time measured in the stage's own first steps (edgecomp.compress.time_budget, run.pipeline)."""

import time

import pytest

from edgecomp.compress.context import RunContext
from edgecomp.compress.fitting import fit
from edgecomp.compress.time_budget import TIMED_STEPS, WARMUP_STEPS, ScheduleTooLong, stage_time_budget
from edgecomp.core.durations import parse_duration
from edgecomp.core.errors import ConfigError
from edgecomp.plan.plan import parse_plan
from edgecomp.run.pipeline import run_stages


@pytest.mark.parametrize("text, seconds", [("20m", 1200), ("1h30m", 5400), ("90s", 90), ("1.5h", 5400),
                                           ("1200", 1200), (45, 45)])
def test_durations_read_as_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["20x", "m", "1h30", "", "-5m", "twenty minutes"])
def test_a_bad_duration_is_a_plan_error_that_shows_the_forms(text):
    with pytest.raises(ConfigError, match="not a duration.*30m, 1h30m, 90s"):
        parse_plan({"time_budget": text})


def test_a_plan_reads_its_time_budget_and_has_none_by_default():
    assert parse_plan({"time_budget": "20m"}).time_budget == 1200
    assert parse_plan({}).time_budget is None


def _tiny(fmnist_small):
    from edgecomp.core.tfenv import seed_everything
    from edgecomp.models.zoo import build_zoo_model

    seed_everything(0)
    return build_zoo_model("cnn-tiny", fmnist_small.input_shape, fmnist_small.num_classes)


def test_a_schedule_that_overruns_its_share_stops_after_the_timed_steps_naming_the_epochs_that_fit(fmnist_small):
    model = _tiny(fmnist_small)
    steps_per_epoch = -(-fmnist_small.count("train") // 32)
    assert steps_per_epoch > WARMUP_STEPS + TIMED_STEPS  # the check happens inside the first epoch
    started = time.perf_counter()
    with stage_time_budget(2.0) as budget, pytest.raises(ScheduleTooLong) as cut:
        fit(model, fmnist_small, epochs=400, batch_size=32, learning_rate=1e-3, label="train")
    assert time.perf_counter() - started < 60  # it stopped early, not after 400 epochs
    assert 1 <= cut.value.epochs < 400 and cut.value.planned_epochs == 400
    assert cut.value.step_seconds == budget.measured_step_seconds > 0
    # The epochs named fit the share with the margin, at the measured step time.
    assert cut.value.epochs * steps_per_epoch * cut.value.step_seconds <= 2.0 or cut.value.epochs == 1


def test_a_schedule_within_its_share_runs_whole(fmnist_small):
    model = _tiny(fmnist_small)
    with stage_time_budget(3600.0) as budget:
        info = fit(model, fmnist_small, epochs=2, batch_size=32, learning_rate=1e-3, label="train")
    assert info["epochs"] == 2 and len(info["history"]["loss"]) == 2
    assert budget.measured_step_seconds > 0  # measured, and found to fit


def test_a_build_with_a_short_budget_runs_the_stage_again_with_fewer_epochs_and_records_it(fmnist_small, tmp_path):
    plan = parse_plan({"model": "cnn-tiny", "time_budget": 6,
                       "stages": [{"stage": "train", "epochs": 200, "batch_size": 32}]})
    ctx = RunContext(plan=plan, data=fmnist_small, run_dir=tmp_path)
    started = time.perf_counter()
    [record] = run_stages(ctx, use_cache=False)
    assert time.perf_counter() - started < 120
    budget = record["schedule"]["time_budget"]
    assert budget["planned_epochs"] == 200 and 1 <= budget["epochs"] < 200
    assert budget["share_seconds"] <= 6 and budget["measured_step_seconds"] > 0
    first = budget["restarts"][0]  # the planned schedule was measured, cut, and the stage started again
    assert first["epochs"] == 200 and first["epochs_that_fit"] < 200 and first["measured_step_seconds"] > 0
    # The stage ran again with the epochs that fit, and the record says so.
    assert record["epochs"] == budget["epochs"] == len(record["info"]["history"]["loss"])
    assert record["steps"] == record["epochs"] * record["schedule"]["steps_per_epoch"]
    assert ctx.model is not None


def test_without_a_budget_the_stage_runs_its_planned_epochs(fmnist_small, tmp_path):
    plan = parse_plan({"model": "cnn-tiny", "stages": [{"stage": "train", "epochs": 1, "batch_size": 256}]})
    [record] = run_stages(RunContext(plan=plan, data=fmnist_small, run_dir=tmp_path), use_cache=False)
    assert record["epochs"] == 1 and "time_budget" not in record["schedule"]


def test_stages_built_within_a_time_budget_are_cached_apart_from_unbudgeted_ones(fmnist_small):
    """A budget may have shortened a stage: a build without it (or with another) must not reuse it."""
    from edgecomp.run.stage_cache import chain_keys

    stages = [{"stage": "train", "epochs": 2}, {"stage": "distill"}]
    plain, budgeted, other = (chain_keys(parse_plan({"model": "cnn-tiny", "stages": stages, **extra}), fmnist_small)
                              for extra in ({}, {"time_budget": "20m"}, {"time_budget": "30m"}))
    assert len({plain[0], budgeted[0], other[0]}) == 3 and len({plain[1], budgeted[1], other[1]}) == 3
