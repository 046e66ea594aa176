"""The search's early stopping: ASHA with one set of rungs per student, and start points kept.

Plain ASHA compares every trial at a rung with every other. In the first 30-minute benchmark
(benchmarks/search/notes.md) that stopped all eleven cnn-assistant trials after one epoch:
the larger student is slower to start (74-78% validation accuracy after epoch 1, against 83-89%
for cnn-student and cnn-tiny), though it ends far ahead (92.35% at the end of the default chain,
against 88.85% for the one cnn-student trial that finished). So trials are compared with trials
of the same student only, like with like.

A start point is a baseline the user asked to compare against (the benchmark's is the default
chain): its results count in its student's rungs, but it is never stopped early.

Defined at module level: Tune pickles the scheduler into its resume state.
"""

from __future__ import annotations

import copy

from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from edgecomp.plan.search_space import is_start_point


class SearchASHA(ASHAScheduler):
    """ASHAScheduler with a bracket per `student` and `start_points` never stopped early.

    It reuses ASHA's own bookkeeping (`_brackets`, `_trial_info`, as ASHAScheduler's methods do):
    each trial is filed under its student's bracket, a fresh copy of ASHA's first one.
    """

    def __init__(self, start_points: list[dict], **asha_settings):
        super().__init__(**asha_settings)
        self.start_points = [dict(point) for point in start_points]
        self._empty_bracket = copy.deepcopy(self._brackets[0])  # before any result is recorded
        self._student_brackets: dict = {}

    def on_trial_add(self, tune_controller, trial) -> None:
        super().on_trial_add(tune_controller, trial)  # checks metric and mode
        student = str(trial.config.get("student"))
        if student not in self._student_brackets:
            self._student_brackets[student] = copy.deepcopy(self._empty_bracket)
        self._trial_info[trial.trial_id] = self._student_brackets[student]

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        decision = super().on_trial_result(tune_controller, trial, result)  # records the rung either way
        if decision == TrialScheduler.STOP and is_start_point(trial.config, self.start_points):
            return TrialScheduler.CONTINUE
        return decision
