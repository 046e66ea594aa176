"""The `quantize` stage: post-training quantization, applied by the TFLite converter at export.

PTQ does not change the Keras model; it records the modes so the export step writes one extra
`.tflite` per mode, calibrated on training images (never test images).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgecomp.config import Strict
from edgecomp.stages import STAGES, RunContext, StageDef


class QuantizeConfig(Strict):
    stage: str = "quantize"
    modes: list[Literal["int8"]] = ["int8"]
    calibration_samples: int = Field(500, gt=0)


def run_quantize(ctx: RunContext, cfg: QuantizeConfig) -> dict:
    for mode in cfg.modes:
        if mode not in ctx.ptq_modes:
            ctx.ptq_modes.append(mode)
    ctx.export_hints["calibration_samples"] = cfg.calibration_samples
    return {"modes": list(cfg.modes), "calibration_samples": cfg.calibration_samples,
            "calibration_split": "train"}


STAGES.register("quantize")(StageDef(config=QuantizeConfig, run=run_quantize))
