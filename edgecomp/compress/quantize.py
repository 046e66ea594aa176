"""The `quantize` stage: post-training quantization, applied by the converters at export.

PTQ does not change the Keras model; it records the modes so the export step writes one extra
artifact per mode (a `.tflite`, and an int8 QDQ `.onnx` for `int8` when ONNX is exported),
calibrated on training images (never test images).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgecomp.config import Strict
from edgecomp.stages import STAGES, RunContext, StageDef

PtqMode = Literal["dynamic", "float16", "int8", "int8_io", "uint8_io", "int16x8"]


class QuantizeConfig(Strict):
    """PTQ modes (see edgecomp.export.tflite.TFLITE_PRECISIONS) and the int8 debugging settings."""

    stage: str = "quantize"
    modes: list[PtqMode] = ["int8"]
    calibration_samples: int = Field(500, gt=0)
    # When an int8 artifact loses more than this many accuracy points (on the parity images),
    # the report lists the layers with the largest quantization error.
    debug_drop_points: float = Field(1.0, ge=0)
    debug_top_layers: int = Field(5, gt=0)
    # > 0: also export `int8_mixed`, int8 with this many worst-quantized layers kept float.
    float_fallback_layers: int = Field(0, ge=0)


def run_quantize(ctx: RunContext, cfg: QuantizeConfig) -> dict:
    for mode in cfg.modes:
        if mode not in ctx.ptq_modes:
            ctx.ptq_modes.append(mode)
    if cfg.float_fallback_layers and "int8_mixed" not in ctx.ptq_modes:
        ctx.ptq_modes.append("int8_mixed")
    inputs = ctx.export_inputs
    inputs.calibration_samples, inputs.float_fallback_layers = cfg.calibration_samples, cfg.float_fallback_layers
    inputs.debug_drop_points, inputs.debug_top_layers = cfg.debug_drop_points, cfg.debug_top_layers
    return {"modes": list(cfg.modes), "calibration_samples": cfg.calibration_samples,
            "calibration_split": "train", "debug_drop_points": cfg.debug_drop_points,
            "float_fallback_layers": cfg.float_fallback_layers}


STAGES.register("quantize")(StageDef(config=QuantizeConfig, run=run_quantize))
