#!/usr/bin/env bash
# The whole test suite, as CI runs it: the fast tests (what plain `pytest` runs; the goal is under
# 5 minutes on 2 cores), then the slow ones (`-m slow`: keras.applications backbones at 96x96, the
# 96px folder teacher, Keras 3 files through the default plan, the stage cache's chain round trips,
# the wheel in a fresh venv, the emulated arm64 Pi, a headless browser). Both run on two pytest-xdist workers; the slow part keeps each file on one worker
# (--dist loadfile) so a module's expensive fixture (the emulated Pi's build) is made once. Each
# part prints its own wall time. Extra arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
status=0
for part in "not slow" "slow"; do
    started=$(date +%s)
    distribution=$([ "$part" = slow ] && echo loadfile || echo load)
    "$python" -m pytest -m "$part" -n 2 --dist "$distribution" "$@" || status=$?
    echo "tests (-m \"$part\"): $(( $(date +%s) - started )) s wall"
    [ "$status" -eq 0 ] || break
done
exit "$status"
