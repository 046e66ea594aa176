"""A training stage's schedule sized to the data: epochs raised to reach the stage's `min_steps`.

The presets name step budgets (edgecomp.plan.plan.PRESETS), because epochs mean nothing across
datasets: 8 epochs are 3,400 optimizer steps on Fashion-MNIST and 136 on a 2,160-image folder.
Every stage record states its steps, epochs and steps per epoch (`schedule`).
"""

from __future__ import annotations

import math
from typing import Optional

from edgecomp.compress.fitting import batches_per_epoch
from edgecomp.core.progress import step


def sized_to_data(cfg, data, preset: str, quiet: bool = False) -> tuple[object, Optional[dict]]:
    """(settings to run, the schedule record); stages that do not train return (cfg, None).

    The epochs are raised, never lowered, to ceil(min_steps / steps per epoch) when the stage has
    a step budget and trains at all (epochs > 0: a one-shot prune stays one-shot). quiet: no
    progress line (a schedule looked at ahead of its stage).
    """
    epochs, batch_size = getattr(cfg, "epochs", None), getattr(cfg, "batch_size", None)
    if epochs is None or batch_size is None:
        return cfg, None
    per_epoch = batches_per_epoch(data.count("train"), batch_size)
    record = {"epochs": epochs, "steps_per_epoch": per_epoch, "steps": epochs * per_epoch}
    budget = getattr(cfg, "min_steps", None)
    if not budget or epochs == 0 or epochs * per_epoch >= budget:
        return cfg, record
    raised = math.ceil(budget / per_epoch)
    why = (f"{cfg.stage}: {raised} epochs instead of {epochs}, to reach min_steps {budget:,} ({preset} preset unless "
           f"the plan set it) at {per_epoch} steps per epoch ({data.count('train'):,} training images, batch "
           f"{batch_size})")
    if not quiet:
        step(why)
    record.update(epochs=raised, steps=raised * per_epoch, min_steps=budget, planned_epochs=epochs, why=why)
    return cfg.model_copy(update={"epochs": raised}), record
