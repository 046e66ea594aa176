"""The search's ASHA judges every trial at its rungs but never stops a start point (a baseline)."""

from types import SimpleNamespace

import pytest

pytest.importorskip("ray.tune")

from ray.tune.schedulers import TrialScheduler  # noqa: E402

from edgecomp.search.scheduler import BaselineKeepingASHA  # noqa: E402
from edgecomp.search.space import is_start_point  # noqa: E402

CHAIN = {"student": "cnn-assistant", "distill_method": "kd", "temperature": 4.0, "alpha": 0.9, "prune": "global",
         "sparsity": 0.5, "precision": "int8", "quantization": "qat"}


def trial(trial_id: str, **config):
    """Ray Tune's Trial as ASHA reads it: an id and the sampled config."""
    return SimpleNamespace(trial_id=trial_id, config=config)


def test_a_start_point_below_the_rung_continues_where_any_other_trial_stops():
    scheduler = BaselineKeepingASHA([CHAIN], time_attr="epochs_done", metric="val_accuracy", mode="max",
                                    max_t=10, grace_period=1, reduction_factor=2)
    fast = trial("fast", **{**CHAIN, "student": "cnn-student"})
    baseline = trial("baseline", **CHAIN)
    other = trial("other", **{**CHAIN, "alpha": 0.5})
    for t in (fast, baseline, other):
        scheduler.on_trial_add(None, t)
    assert scheduler.on_trial_result(None, fast, {"epochs_done": 1, "val_accuracy": 0.90}) == TrialScheduler.CONTINUE
    # Below the rung's cutoff: plain ASHA stops it; the baseline is kept, the look-alike is not.
    assert scheduler.on_trial_result(None, baseline, {"epochs_done": 1, "val_accuracy": 0.50}) == TrialScheduler.CONTINUE
    assert scheduler.on_trial_result(None, other, {"epochs_done": 1, "val_accuracy": 0.50}) == TrialScheduler.STOP


def test_start_point_matching_reads_structured_sparsity():
    point = {"student": "cnn-student", "prune": "structured", "sparsity": 0.25}
    assert is_start_point({"student": "cnn-student", "prune": "structured", "structured_sparsity": 0.25,
                           "alpha": 0.7}, [point])
    assert not is_start_point({"student": "cnn-student", "prune": "structured", "structured_sparsity": 0.3}, [point])
    assert not is_start_point({"student": "cnn-student"}, [])
