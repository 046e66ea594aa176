"""Compression stages: train, distill/ (kd, takd, byot, dlb, auto student), prune, quantize, qat.

Each stage is a `run(ctx, cfg) -> info` function on a `compress.context.RunContext`; the runner's
stage table (`edgecomp.run.stages.STAGES`) names them. This `__init__` imports nothing, so importing
one stage never loads the others.
"""
