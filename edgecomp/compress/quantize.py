"""The `quantize` stage: post-training quantization, applied by the converters at export.

PTQ does not change the Keras model; it records the modes so the export step writes one extra
artifact per mode (a `.tflite`, and an int8 QDQ `.onnx` for `int8` when ONNX is exported),
calibrated on training images (never test images).
"""

from __future__ import annotations

from edgecomp.compress.context import RunContext
from edgecomp.plan.stage_settings import QuantizeConfig

__all__ = ["QuantizeConfig", "run_quantize"]


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

