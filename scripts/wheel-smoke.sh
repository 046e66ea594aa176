#!/usr/bin/env bash
# Builds edgecomp's wheel from a copy of the source, installs it with --no-deps into a fresh venv,
# and runs `edgecomp targets check host` and `edgecomp bench MODEL` from that venv.
#
# The fresh venv reaches the runtimes (numpy, LiteRT, onnxruntime, typer...) through a .pth line
# naming the setup env's site-packages, but never the source tree: the commands run from WORKDIR
# with PYTHONPATH unset, so a profile or runtime file missing from the wheel fails here.
# Offline: the wheel is built without build isolation (setuptools>=77 comes from scripts/setup.sh).
#
# Usage: scripts/wheel-smoke.sh WORKDIR [MODEL.tflite|.onnx]   (default: an untrained cnn-tiny .tflite)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mkdir -p "${1:?usage: scripts/wheel-smoke.sh WORKDIR [MODEL]}" && cd "$1" && pwd)
model=${2:-}
python=${PYTHON:-$repo/.venv/bin/python}

rm -rf "$work/src" "$work/dist" "$work/venv"
mkdir -p "$work/src"
cp -r "$repo/edgecomp" "$repo/targets" "$repo/pyproject.toml" "$repo/README.md" "$work/src/"
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
"$python" -m pip wheel -q --no-deps --no-build-isolation --no-index -w "$work/dist" "$work/src"

"$python" -m venv --without-pip "$work/venv"
site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$site/setup-env-site-packages.pth"
"$python" -m pip --python "$work/venv/bin/python" install -q --no-deps --no-index "$work"/dist/edgecomp-*.whl

if [ -z "$model" ]; then
  model=$work/cnn-tiny.tflite
  PYTHONPATH=$repo "$python" - "$model" <<'PY'
import sys
from edgecomp.exporters.tflite import keras_to_tflite
from edgecomp.models.zoo import build_zoo_model
keras_to_tflite(build_zoo_model("cnn-tiny", (28, 28, 1), 10), sys.argv[1], "float32")
PY
fi

cd "$work"
run() { env -u PYTHONPATH -u EDGECOMP_TARGETS_DIR "$work/venv/bin/$@"; }
run python -c 'import edgecomp, sys; print("edgecomp from", edgecomp.__file__)'
run edgecomp targets check host
run edgecomp bench "$model" --out "$work/bench" --min-runs 20 --min-time 0 --accuracy-samples 200
