"""The `quantize` stage: post-training quantization, applied by the converters at export.

PTQ does not change the Keras model; it records the modes so the export step writes one extra
artifact per mode (a `.tflite`, and an `.onnx` where the mode's recipe has one, see
edgecomp.plan.precisions), calibrated on training images (never test images).
"""

from __future__ import annotations

from edgecomp.compress.context import RunContext
from edgecomp.plan.precisions import FLOAT_FALLBACK_PRECISION
from edgecomp.plan.stage_settings import QuantizeConfig

__all__ = ["QuantizeConfig", "run_quantize"]


def run_quantize(ctx: RunContext, cfg: QuantizeConfig) -> dict:
    for mode in cfg.modes:
        ctx.add_precision(mode)
    if cfg.float_fallback_layers:
        ctx.add_precision(FLOAT_FALLBACK_PRECISION)
    inputs = ctx.export_inputs
    inputs.calibration_samples, inputs.float_fallback_layers = cfg.calibration_samples, cfg.float_fallback_layers
    inputs.debug_drop_points, inputs.debug_top_layers = cfg.debug_drop_points, cfg.debug_top_layers
    inputs.quantizer_overrides = [override.model_dump(exclude_none=True) for override in cfg.overrides]
    inputs.auto_max_drop = cfg.max_drop
    return {"modes": list(cfg.modes), "calibration_samples": cfg.calibration_samples,
            "calibration_split": "train", "debug_drop_points": cfg.debug_drop_points,
            "float_fallback_layers": cfg.float_fallback_layers,
            **({"overrides": inputs.quantizer_overrides} if cfg.overrides else {}),
            **({"max_drop": cfg.max_drop} if "auto" in cfg.modes else {})}

