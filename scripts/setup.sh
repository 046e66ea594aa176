#!/usr/bin/env bash
# Sets up edgecomp on a fresh Debian/Ubuntu machine (or any machine with Python 3.10-3.12):
#   - Debian packages when apt is available: the Fashion-MNIST images, sshd and adb for the
#     device adapters' tests, Chromium for rendering the HTML report and, driven by playwright (the
#     `dev` extra, which downloads no browser), Model Explorer's page;
#   - .venv with edgecomp, its dev tools, `edgecomp search`'s Ray Tune + Optuna (the `search` extra), the AI
#     Edge Quantizer (`quantize`), Model Explorer (`explore`) and the Jupyter progress bars (`notebook`);
#   - .venv-tflite-runtime: tflite-runtime 2.14 with numpy<2, the runtime Raspberry Pi images carry;
#   - the emulated arm64 Raspberry Pi (scripts/make-arm64-pi.sh, ~1.5 min once, cached in
#     ~/.cache/edgecomp/arm64-pi) for the `arm64` tests; EDGECOMP_SKIP_ARM64=1 leaves it out.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(dataset-fashion-mnist openssh-server adb chromium mmdebstrap qemu-user-static)

install_debian_packages() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pick_python() {
  for candidate in python3.11 python3.12 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))'; then
      echo "$candidate"; return 0
    fi
  done
  echo "setup: edgecomp needs Python 3.10, 3.11 or 3.12 (TensorFlow 2.21 has no wheels for others)" >&2
  return 1
}

if command -v apt-get >/dev/null 2>&1; then
  install_debian_packages
else
  echo "setup: no apt-get; put Fashion-MNIST's IDX files in \$EDGECOMP_DATA_DIR/fashion-mnist yourself" >&2
fi

PYTHON=$(pick_python)
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 'setuptools>=77,<81' wheel  # wheel builds offline; <81 keeps pkg_resources
.venv/bin/python -m pip install -q -e ".[dev,search,quantize,explore,notebook]"

if [ -f scripts/make-tflite-runtime-env.sh ]; then
  bash scripts/make-tflite-runtime-env.sh .venv-tflite-runtime
fi
if [ "${EDGECOMP_SKIP_ARM64:-0}" != 1 ]; then
  # A failure here stops the setup (set -e) rather than quietly skipping the arm64 tests later.
  bash scripts/make-arm64-pi.sh
fi
echo "setup: done. Run .venv/bin/edgecomp --help"
