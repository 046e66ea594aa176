"""Distillation: KD, teacher-assistant KD, BYOT and DLB self-distillation, and the auto student.

The `distill` stage is `stage.run_distill`; each method module registers itself in `base.METHODS`.
This `__init__` imports nothing, so importing one method never loads the others.
"""
