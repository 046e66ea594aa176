"""The search's ASHA compares trials of the same student only and never stops a start point."""

from types import SimpleNamespace

import pytest

pytest.importorskip("ray.tune")

from ray.tune.schedulers import TrialScheduler  # noqa: E402

from edgecomp.budget_search.scheduler import SearchASHA  # noqa: E402
from edgecomp.plan.search_space import is_start_point  # noqa: E402

CHAIN = {"student": "cnn-assistant", "distill_method": "kd", "temperature": 4.0, "alpha": 0.9, "prune": "global",
         "sparsity": 0.5, "precision": "int8", "quantization": "qat"}
CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


def trial(trial_id: str, **config):
    """Ray Tune's Trial as ASHA reads it: an id and the sampled config."""
    return SimpleNamespace(trial_id=trial_id, config=config)


@pytest.fixture()
def scheduler():
    return SearchASHA([CHAIN], time_attr="epochs_done", metric="val_accuracy", mode="max", max_t=10,
                      grace_period=1, reduction_factor=2)


def report(scheduler, t, accuracy: float, epochs: int = 1) -> str:
    return scheduler.on_trial_result(None, t, {"epochs_done": epochs, "val_accuracy": accuracy})


def test_a_start_point_below_its_rung_continues_where_any_other_trial_stops(scheduler):
    first, baseline, other = (trial("first", **{**CHAIN, "alpha": 0.6}), trial("baseline", **CHAIN),
                              trial("other", **{**CHAIN, "alpha": 0.5}))
    for t in (first, baseline, other):
        scheduler.on_trial_add(None, t)
    assert report(scheduler, first, 0.80) == CONTINUE
    # Below the rung's cutoff: plain ASHA stops both; the baseline is kept, the look-alike is not.
    assert report(scheduler, baseline, 0.50) == CONTINUE
    assert report(scheduler, other, 0.50) == STOP


def test_a_slow_starting_student_is_judged_against_its_own_trials_only(scheduler):
    """The benchmark's case: cnn-student leads after one epoch, cnn-assistant ends ahead."""
    small = [trial(f"small{i}", **{**CHAIN, "student": "cnn-student", "alpha": 0.5 + i / 10}) for i in range(3)]
    large = [trial(f"large{i}", **{**CHAIN, "alpha": 0.5 + i / 10}) for i in range(2)]
    for t in small + large:
        scheduler.on_trial_add(None, t)
    assert [report(scheduler, t, 0.88) for t in small] == [CONTINUE] * 3
    assert report(scheduler, large[0], 0.76) == CONTINUE  # below every cnn-student, first of its own rung
    assert report(scheduler, large[1], 0.74) == STOP  # below the other cnn-assistant


def test_start_point_matching_reads_structured_sparsity():
    point = {"student": "cnn-student", "prune": "structured", "sparsity": 0.25}
    assert is_start_point({"student": "cnn-student", "prune": "structured", "structured_sparsity": 0.25,
                           "alpha": 0.7}, [point])
    assert not is_start_point({"student": "cnn-student", "prune": "structured", "structured_sparsity": 0.3}, [point])
    assert not is_start_point({"student": "cnn-student"}, [])
