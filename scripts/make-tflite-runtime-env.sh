#!/usr/bin/env bash
# Creates a virtual environment with tflite-runtime 2.14 and numpy<2: the runtime that many
# Raspberry Pi images carry. The device runner is tested under it so that it keeps working with
# numpy 1.x and tflite_runtime, not only with the host's ai-edge-litert and numpy 2.
#
# Usage: scripts/make-tflite-runtime-env.sh [DIR]    (default: .venv-tflite-runtime at the repo root)
#        PYTHON=python3.11 scripts/make-tflite-runtime-env.sh   to choose the interpreter.
#
# tflite-runtime 2.14.0 publishes wheels for CPython 3.8-3.11 (manylinux2014 x86_64 and aarch64;
# checked with `pip download --no-deps tflite-runtime==2.14.0`, which found the cp311 wheel).
# There is no wheel for Python 3.12, so a 3.8-3.11 interpreter is picked.
# It also holds tflite-support 0.4.4, whose MetadataDisplayer the tests use to read back the TFLite
# metadata edgecomp embeds (tflite-support needs protobuf<4, so it cannot live beside TensorFlow 2.21).
# Safe to run again: an environment that already imports tflite_runtime and tflite_support is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${1:-.venv-tflite-runtime}

pick_python() {
  local candidates=("${PYTHON:-}" python3.11 python3.10 python3.9 python3.8 python3)
  for candidate in "${candidates[@]}"; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(not ((3, 8) <= sys.version_info[:2] <= (3, 11)))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "make-tflite-runtime-env: tflite-runtime 2.14 needs Python 3.8-3.11 (no wheel for 3.12+);" \
       "install one, or set PYTHON=/path/to/python3.11" >&2
  return 1
}

if [ -x "$DIR/bin/python" ] && "$DIR/bin/python" -c 'import tflite_runtime, numpy, tflite_support' 2>/dev/null; then
  echo "make-tflite-runtime-env: $DIR already has tflite-runtime and tflite-support; nothing to do"
  exit 0
fi

if [ ! -x "$DIR/bin/python" ]; then
  PY=$(pick_python)
  "$PY" -m venv "$DIR"
fi
"$DIR/bin/python" -m pip install -q --upgrade pip
"$DIR/bin/python" -m pip install -q "tflite-runtime==2.14.0" "numpy<2" "tflite-support==0.4.4"
"$DIR/bin/python" -c 'import numpy, tflite_runtime; print("make-tflite-runtime-env: tflite_runtime",
  tflite_runtime.__version__, "numpy", numpy.__version__, "in '"$DIR"'")'
