"""ASHA that lets the search's start points run to their end.

A start point is a baseline the user asked to compare against (the benchmark's is the default
chain). Plain ASHA judges it like any trial: with two workers, a slower student's first rung was
below a faster one's and the baseline was stopped after one epoch, leaving nothing to compare the
front with. Here its results still count in the rungs other trials are judged by, but it is never
stopped early. Defined at module level: Tune pickles the scheduler into its resume state.
"""

from __future__ import annotations

from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from edgecomp.search.space import is_start_point


class BaselineKeepingASHA(ASHAScheduler):
    """ASHAScheduler, except that trials whose config is one of `start_points` always continue."""

    def __init__(self, start_points: list[dict], **asha_settings):
        super().__init__(**asha_settings)
        self.start_points = [dict(point) for point in start_points]

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        decision = super().on_trial_result(tune_controller, trial, result)  # records the rung either way
        if decision == TrialScheduler.STOP and is_start_point(trial.config, self.start_points):
            return TrialScheduler.CONTINUE
        return decision
