"""`--time-budget`: each training stage's schedule fits its share of the time, sized from the step
time measured in the stage's own first steps (edgecomp.compress.time_budget, run.pipeline)."""

import math
import time

import numpy as np
import pytest

from edgecomp.compress.context import RunContext
from edgecomp.compress.fitting import fit
from edgecomp.compress.time_budget import (
    MARGIN,
    TIMED_STEPS,
    WARMUP_STEPS,
    ScheduleTooLong,
    epochs_that_fit,
    stage_time_budget,
)
from edgecomp.core.durations import parse_duration
from edgecomp.core.errors import ConfigError, UsageError
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


def test_a_schedule_that_overruns_its_share_stops_after_the_timed_steps_naming_the_fraction_that_fits(fmnist_small):
    model = _tiny(fmnist_small)
    steps_per_epoch = -(-fmnist_small.count("train") // 32)
    assert steps_per_epoch > WARMUP_STEPS + TIMED_STEPS  # the check happens inside the first epoch
    started = time.perf_counter()
    with stage_time_budget(2.0) as budget, pytest.raises(ScheduleTooLong) as cut:
        fit(model, fmnist_small, epochs=400, batch_size=32, learning_rate=1e-3, label="train")
    assert time.perf_counter() - started < 60  # it stopped early, not after 400 epochs
    assert cut.value.step_seconds == budget.measured_step_seconds > 0 and cut.value.planned_epochs == 400
    # The fraction is the share over the projected time: 400 epochs of measured steps, at least.
    assert 0 < cut.value.fraction <= 2.0 / (400 * steps_per_epoch * cut.value.step_seconds)
    assert 1 <= epochs_that_fit(400, cut.value.fraction) < 400


def test_epochs_that_fit_keep_the_margin_and_always_cut():
    assert epochs_that_fit(100, 0.5) == math.floor(50 / MARGIN)
    assert epochs_that_fit(100, 0.999) == 86 and epochs_that_fit(2, 0.99) == 1  # fewer than before
    assert epochs_that_fit(100, 1e-6) == 1  # never below one epoch


def _four_epochs_of_four_steps(callback, clock: list) -> None:
    """Drives a budget callback as fit would: each step 0.5 s, each epoch end (validation) 100 s."""
    callback.on_train_begin()
    for epoch in range(4):
        callback.on_epoch_begin(epoch)
        for batch in range(4):
            callback.on_train_batch_begin(batch)
            clock[0] += 0.5
            callback.on_train_batch_end(batch)
        clock[0] += 100.0  # validation and BatchNorm re-estimation


def test_timing_skips_what_happens_between_epochs(monkeypatch):
    """A dataset of 4 batches per epoch: the timed steps span epoch ends, whose validation is not a step's
    time. Driven by a clock of our own: each step 0.5 s, each epoch end 100 s."""
    from edgecomp.compress import time_budget

    clock = [0.0]
    monkeypatch.setattr(time_budget.time, "perf_counter", lambda: clock[0])
    with stage_time_budget(1e9, started=0.0) as budget:
        _four_epochs_of_four_steps(time_budget.budget_callback(epochs=10, steps_per_epoch=4), clock)
    assert budget.measured_step_seconds == pytest.approx(0.5)
    clock[0] = 0.0
    with stage_time_budget(10.0, started=0.0), pytest.raises(ScheduleTooLong) as cut:  # 10 x 4 x 0.5 s = 20 s
        _four_epochs_of_four_steps(time_budget.budget_callback(epochs=10, steps_per_epoch=4), clock)
    assert cut.value.fraction == pytest.approx(10.0 / 20.0)


def test_a_restarted_stage_starts_from_the_weights_it_was_given(fmnist_small, tmp_path, monkeypatch):
    """byot and dlb train ctx.model itself: after a cut, the second run must not inherit the first's steps."""
    from edgecomp.run import pipeline

    model = _tiny(fmnist_small)
    given = [w.copy() for w in model.get_weights()]
    seen_epochs, weights_at_start = [], []

    def stage(ctx, cfg):
        weights_at_start.append([w.copy() for w in ctx.model.get_weights()])
        seen_epochs.append(cfg.epochs)
        ctx.model.set_weights([w + 1 for w in ctx.model.get_weights()])  # trained in place
        if len(seen_epochs) == 1:
            raise ScheduleTooLong(0.5, 0.01, cfg.epochs)
        return {"ran": True}

    monkeypatch.setattr(pipeline.STAGES, "get", lambda name: stage)
    plan = parse_plan({"model": "cnn-tiny", "stages": [{"stage": "train", "epochs": 10}]})
    ctx = RunContext(plan=plan, data=fmnist_small, run_dir=tmp_path, model=model)
    schedule = {"epochs": 10, "steps_per_epoch": 57, "steps": 570}
    cfg, info = pipeline.run_stage_in_time(ctx, plan.stages[0], 1, schedule, share=100.0)
    assert seen_epochs == [10, epochs_that_fit(10, 0.5)] and cfg.epochs == seen_epochs[1]
    for before, start in zip(given, weights_at_start[1]):
        np.testing.assert_array_equal(before, start)
    record = schedule["time_budget"]
    assert record["restarts"] == [{"epochs": 10, "measured_step_seconds": 0.01, "fraction_that_fits": 0.5,
                                   "epochs_that_fit": seen_epochs[1]}]
    assert schedule["epochs"] == seen_epochs[1] and schedule["steps"] == seen_epochs[1] * 57


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
    assert first["epochs"] == 200 and first["epochs_that_fit"] < 200 and 0 < first["fraction_that_fits"] < 1
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


def test_a_search_refuses_a_plans_time_budget(tmp_path):
    """A build's training limit inside every trial would make its epochs depend on the other trials' load."""
    import edgecomp

    with pytest.raises(UsageError, match="its own --time-budget"):
        edgecomp.search("cnn-tiny", plan={"time_budget": "20m"}, target="host", max_size_kb=100,
                        out=tmp_path / "search")
