"""The stage table: each stage's `run`, registered by name for the pipeline.

The settings of each stage live in `edgecomp.plan.stage_settings` (a plan is checked without importing
the stages); a stage registered here without settings there, or the reverse, fails a test.
"""

from edgecomp.compress.context import StageRun
from edgecomp.compress.distill.stage import run_distill
from edgecomp.compress.prune import run_prune
from edgecomp.compress.qat import run_qat
from edgecomp.compress.quantize import run_quantize
from edgecomp.compress.train import run_train
from edgecomp.core.registry import Registry

STAGES: Registry[StageRun] = Registry("stage")
STAGES.register("train")(run_train)
STAGES.register("distill")(run_distill)
STAGES.register("prune")(run_prune)
STAGES.register("quantize")(run_quantize)
STAGES.register("qat")(run_qat)
