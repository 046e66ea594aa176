"""A training stage's share of the build's time budget (`--time-budget 20m`), checked from the
step time measured in the stage's own first optimizer steps.

The pipeline (`edgecomp.run.pipeline`) gives each training stage a share of the time left and runs
it inside `stage_time_budget(share)`. Every fit of that stage (`fitting.fit_compiled`) then times its
first steps; when the whole schedule would overrun the share, it stops at once with
`ScheduleTooLong`, naming the fraction of its time that fits, and the pipeline runs the stage
again from its start with that fraction of its epochs (the model it trains put back as it was).
The schedules that depend on the total (the learning rate's cosine decay, the pruning ramp, the
epochs restore_best may keep) are all sized from the epochs when a stage starts, so a shorter
schedule is a whole schedule, not a cut one. The set-up and the few steps measured are lost.
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
    """A stage would overrun its share of the time budget: run it again with `fraction` of its epochs
    (the share over the stage's projected time: what it spent before this fit, plus this fit)."""

    def __init__(self, fraction: float, step_seconds: float, planned_epochs: int):
        super().__init__(f"the stage would overrun its share of the time budget; {fraction:.2f} of its epochs fit")
        self.fraction, self.step_seconds, self.planned_epochs = fraction, step_seconds, planned_epochs


@contextmanager
def stage_time_budget(seconds: float, started: Optional[float] = None):
    """Every fit inside checks its schedule against `seconds` counted from `started` (now)."""
    budget = StageBudget(seconds=seconds, started=time.perf_counter() if started is None else started)
    token = _ACTIVE.set(budget)
    try:
        yield budget
    finally:
        _ACTIVE.reset(token)


def epochs_that_fit(epochs: int, fraction: float) -> int:
    """The stage's epochs cut to `fraction` of its time, with the margin: at least 1, fewer than `epochs`."""
    return max(1, min(epochs - 1, math.floor(epochs * fraction / MARGIN)))


def budget_callback(epochs: int, steps_per_epoch: int):
    """A Keras callback raising ScheduleTooLong after the first timed steps when the stage, with this
    fit's whole schedule, would overrun the active stage budget; None outside a budget or for a
    one-epoch fit (nothing to cut).

    The steps are timed within epochs: the gap across an epoch's end (validation, BatchNorm
    re-estimation) is not a step's time, and a dataset of a dozen batches has epoch ends among its
    first steps."""
    budget = _ACTIVE.get()
    if budget is None or epochs <= 1:
        return None

    class CheckTimeBudget(keras().callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen, self.timed, self.timed_seconds, self.last_end, self.fit_started = 0, 0, 0.0, None, None

        def on_train_begin(self, logs=None):
            self.fit_started = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.last_end = None  # the next step's time starts at its own beginning, not the last epoch's end

        def on_train_batch_begin(self, batch, logs=None):
            if self.last_end is None:
                self.last_end = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            self.seen += 1
            if self.seen > WARMUP_STEPS and self.timed < TIMED_STEPS:
                self.timed, self.timed_seconds = self.timed + 1, self.timed_seconds + (now - self.last_end)
                if self.timed == TIMED_STEPS:
                    self.check(self.timed_seconds / TIMED_STEPS)
            self.last_end = now

        def check(self, step_seconds: float) -> None:
            budget.measured_step_seconds = step_seconds
            # What the stage spent before this fit (set-up, earlier fits: takd, width probes), plus this fit.
            projected = (self.fit_started - budget.started) + epochs * steps_per_epoch * step_seconds
            if projected > budget.seconds:
                raise ScheduleTooLong(max(0.0, budget.seconds) / projected, step_seconds, epochs)

    return CheckTimeBudget()
