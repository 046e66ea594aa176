"""`edgecomp search`: the most accurate compression chain that fits a device budget, on Ray Tune.

`space` (the plan's `search:` section), `budget`, `trial` (one build per trial), `device` (one
benchmark at a time per device), `runner` (Ray, Optuna, ASHA), `results` (search report, best artifact).
Nothing here imports Ray at package import time.
"""
