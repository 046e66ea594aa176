"""A training stage's share of the build's time budget (`--time-budget 20m`), checked from the
step time measured in the stage's own first optimizer steps.

The pipeline (`edgecomp.run.pipeline`) gives each training stage a share of the time left and runs
it inside `stage_time_budget(share)`. Every fit of that stage (`fitting.fit_compiled`) then times its
first steps; when the whole schedule would overrun the share, it stops at once with
`ScheduleTooLong`, naming the epochs that fit, and the pipeline runs the stage again from its
start with those epochs. The schedules that depend on the total (the learning rate's cosine decay,
the pruning ramp, the epochs restore_best may keep) are all sized from the epochs when a stage
starts, so a shorter schedule is a whole schedule, not a cut one. The few steps measured are
lost: about 2% of a stage's share.
"""

from __future__ import annotations

import contextvars
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

from edgecomp.core.tfenv import keras

WARMUP_STEPS = 3  # the first steps trace the training function: not timed
TIMED_STEPS = 10
# Validation, the progress bar and epoch ends cost time the step time does not show; a schedule is
# sized to fill 1/MARGIN of the share, and cut only when it would overrun the whole share.
MARGIN = 1.15


@dataclass
class StageBudget:
    seconds: float  # the stage's share
    started: float  # perf_counter when the stage began (its set-up counts against the share)
    measured_step_seconds: Optional[float] = None


_ACTIVE: contextvars.ContextVar[Optional[StageBudget]] = contextvars.ContextVar("stage_time_budget", default=None)


class ScheduleTooLong(Exception):
    """A fit of a stage would overrun its share of the time budget: run the stage with `epochs`."""

    def __init__(self, epochs: int, step_seconds: float, planned_epochs: int):
        super().__init__(f"{planned_epochs} epochs would overrun the stage's time; {epochs} fit")
        self.epochs, self.step_seconds, self.planned_epochs = epochs, step_seconds, planned_epochs


@contextmanager
def stage_time_budget(seconds: float, started: Optional[float] = None):
    """Every fit inside checks its schedule against `seconds` counted from `started` (now)."""
    budget = StageBudget(seconds=seconds, started=time.perf_counter() if started is None else started)
    token = _ACTIVE.set(budget)
    try:
        yield budget
    finally:
        _ACTIVE.reset(token)


def epochs_that_fit(seconds_left: float, step_seconds: float, steps_per_epoch: int) -> int:
    """Whole epochs of `steps_per_epoch` steps that fit in `seconds_left` with the margin; at least 1."""
    return max(1, math.floor(seconds_left / (MARGIN * step_seconds * max(1, steps_per_epoch))))


def budget_callback(epochs: int, steps_per_epoch: int):
    """A Keras callback raising ScheduleTooLong after the first timed steps when the fit's schedule
    overruns the active stage budget; None outside a budget or for a one-epoch schedule (nothing to cut)."""
    budget = _ACTIVE.get()
    if budget is None or epochs <= 1:
        return None

    class CheckTimeBudget(keras().callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches, self.timing_from, self.fit_started = 0, None, None

        def on_train_begin(self, logs=None):
            self.fit_started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1
            if self.batches == WARMUP_STEPS:
                self.timing_from = time.perf_counter()
            if self.timing_from is None or self.batches != WARMUP_STEPS + TIMED_STEPS:
                return
            step_seconds = (time.perf_counter() - self.timing_from) / TIMED_STEPS
            budget.measured_step_seconds = step_seconds
            # The share left when this fit began (set-up and earlier fits of the stage spent the rest).
            left = budget.seconds - (self.fit_started - budget.started)
            if epochs * steps_per_epoch * step_seconds <= left:
                return
            raise ScheduleTooLong(epochs_that_fit(left, step_seconds, steps_per_epoch), step_seconds, epochs)

    return CheckTimeBudget()
