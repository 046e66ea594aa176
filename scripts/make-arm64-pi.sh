#!/usr/bin/env bash
# Builds an emulated Raspberry Pi: the software of 64-bit Raspberry Pi OS (Debian Bookworm arm64,
# Python 3.11, numpy from Debian) plus the aarch64 wheels of the TFLite runtimes, run on this x86
# machine by QEMU user-mode emulation. No root-only kernel feature is needed (no binfmt_misc, no
# chroot): the wrappers in bin/ call qemu-aarch64-static on the arm64 python3.11 explicitly.
#
# Usage: scripts/make-arm64-pi.sh            (builds or reuses $EDGECOMP_ARM64_PI)
#   EDGECOMP_ARM64_PI=DIR      where it lives [default: ~/.cache/edgecomp/arm64-pi]
#   EDGECOMP_DEBIAN_MIRROR=URL the Debian mirror [default: this machine's apt sources when they are
#                              Debian's, else mmdebstrap's default]
#
# What it makes (DIR/):
#   rootfs/                     Debian bookworm arm64: python3, python3-numpy (1.24), libstdc++6, and a
#                               Raspberry Pi 4 /proc/cpuinfo
#   env/litert/                 ai-edge-litert + onnxruntime and their dependencies (numpy 2 from PyPI),
#                               like `pip install ai-edge-litert` in a venv on the Pi
#   env/tflite-runtime/         tflite-runtime 2.14 on Debian's numpy 1.24, like apt python3-numpy +
#                               `pip install tflite-runtime` in a venv with system site packages
#   bin/python3-arm64           the Pi's python3 with env/litert
#   bin/python3-arm64-tflite-runtime  the Pi's python3 with env/tflite-runtime
#   versions.json, recipe.sha256
#   ssh/                        made by scripts/arm64-pi-sshd.sh; kept across rebuilds
#
# Safe to run again: when recipe.sha256 matches this script's hash and both pythons start, nothing is
# done. Any change to this file (package lists, versions) rebuilds from scratch into DIR.partial, which
# replaces DIR only when complete.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRIPT="$ROOT/scripts/make-arm64-pi.sh"
DIR=${EDGECOMP_ARM64_PI:-${XDG_CACHE_HOME:-$HOME/.cache}/edgecomp/arm64-pi}
STARTED=$(date +%s)

SUITE=bookworm
# Maintainer scripts do not run in an extracted root filesystem (they would need the emulator as
# binfmt handler), so dependencies must not rely on them beyond the alternatives set below.
DEB_PACKAGES=(python3 python3-numpy libstdc++6)
# Pinned to the host's versions, so the ARM and x86 builds of the same release are compared.
LITERT_WHEELS=(ai-edge-litert==2.3.0 onnxruntime==1.32.0)
TFLITE_RUNTIME_WHEELS=(tflite-runtime==2.14.0)
HOST_PACKAGES=(mmdebstrap qemu-user-static)

say() { echo "make-arm64-pi: $*"; }
elapsed() { echo "$(( $(date +%s) - STARTED )) s"; }

recipe_hash() { sha256sum "$SCRIPT" | cut -d' ' -f1; }

smoke_test() {  # both pythons start under emulation, report aarch64 and import their runtime
  local dir=$1
  "$dir/bin/python3-arm64" -c 'import platform, sys, numpy, ai_edge_litert.interpreter, onnxruntime
assert platform.machine() == "aarch64", platform.machine()' &&
  "$dir/bin/python3-arm64-tflite-runtime" -c 'import platform, numpy, tflite_runtime.interpreter
assert platform.machine() == "aarch64", platform.machine()'
}

if [ -f "$DIR/recipe.sha256" ] && [ "$(cat "$DIR/recipe.sha256")" = "$(recipe_hash)" ] && smoke_test "$DIR" 2>/dev/null; then
  say "$DIR is up to date (recipe $(recipe_hash | cut -c1-12)); nothing to do ($(elapsed))"
  exit 0
fi

install_host_packages() {
  local missing=()
  for pkg in "${HOST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    say "needs ${missing[*]} (Debian/Ubuntu packages); install them and run again" >&2
    exit 1
  fi
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  say "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

debian_mirror() {  # a mirror argument for mmdebstrap, or nothing for its default
  if [ -n "${EDGECOMP_DEBIAN_MIRROR:-}" ]; then
    echo "$EDGECOMP_DEBIAN_MIRROR"; return
  fi
  local sources
  for sources in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    if [ -f "$sources" ]; then
      # deb822 "URIs: X" or one-line "deb X bookworm main": the first Debian (not security) URI.
      sed -n -e 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' -e 's/^deb[[:space:]]\+\([^[:space:]]*\).*/\1/p' \
        "$sources" | grep -v -e security -e '^\[' | grep '/debian/\?$' | head -n 1 && return
    fi
  done
}

aarch64_platforms() {  # pip matches --platform tags exactly: every manylinux tag Bookworm's glibc 2.36 runs
  local minor
  echo "--platform manylinux2014_aarch64"
  for minor in $(seq 17 36); do echo "--platform manylinux_2_${minor}_aarch64"; done
}

host_python() {  # a Python with pip on this machine: the project's venv, else python3
  if [ -x "$ROOT/.venv/bin/python" ]; then echo "$ROOT/.venv/bin/python"; else echo python3; fi
}

pip_for_aarch64() {  # DEST PACKAGE...: wheels for the Pi's CPython 3.11, installed by the host's pip
  local dest=$1; shift
  # shellcheck disable=SC2046
  "$(host_python)" -m pip install -q --disable-pip-version-check --no-warn-script-location --target "$dest" \
    --only-binary=:all: $(aarch64_platforms) --python-version 3.11 --implementation cp --abi cp311 "$@"
}

pi4_cpuinfo() {  # /proc/cpuinfo of a Raspberry Pi 4 (4x Cortex-A72, part 0xd08)
  # QEMU 7.2 passes the x86 host's /proc/cpuinfo through, which the cpuinfo library in onnxruntime
  # cannot parse on aarch64 (it crashes). With -L, QEMU opens ROOTFS/proc/cpuinfo instead when it
  # exists: this one describes the CPU that -cpu cortex-a72 emulates.
  local core
  for core in 0 1 2 3; do
    printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$core"
    printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
  done
  printf 'Hardware\t: BCM2835\nRevision\t: c03111\nModel\t\t: Raspberry Pi 4 Model B (emulated)\n'
}

write_wrapper() {  # NAME ENV: bin/NAME runs the arm64 python3.11 with env/ENV on its path
  cat > "$PARTIAL/bin/$1" <<EOF
#!/bin/sh
# The emulated Pi's python3 (Debian bookworm arm64) with env/$2, under QEMU user-mode emulation.
# Made by scripts/make-arm64-pi.sh; finds its folder from its own path, so the folder can move.
PI=\$(cd "\$(dirname "\$0")/.." && pwd)
EDGECOMP_EMULATOR=\$(qemu-aarch64-static --version 2>/dev/null | head -n 1)
# -cpu cortex-a72: the Pi 4's core (NEON, no dot-product, no fp16 arithmetic), so XNNPACK picks the
# kernels it picks on a Pi 4. No user site: ~/.local of this x86 machine holds no aarch64 code.
PYTHONNOUSERSITE=1 PYTHONPATH="\$PI/env/$2" EDGECOMP_EMULATOR="\$EDGECOMP_EMULATOR, -cpu cortex-a72" \\
  exec qemu-aarch64-static -cpu cortex-a72 -L "\$PI/rootfs" "\$PI/rootfs/usr/bin/python3.11" "\$@"
EOF
  chmod +x "$PARTIAL/bin/$1"
}

install_host_packages
PARTIAL="$DIR.partial"
rm -rf "$PARTIAL"
mkdir -p "$PARTIAL/bin" "$PARTIAL/env"

say "extracting Debian $SUITE arm64 with ${DEB_PACKAGES[*]} ($(elapsed))"
MIRROR=$(debian_mirror || true)
include=$(IFS=,; echo "${DEB_PACKAGES[*]}")
# --variant=extract unpacks the packages and their dependencies without running maintainer
# scripts (which would need binfmt_misc); works as root or not.
mmdebstrap --quiet --variant=extract --arch=arm64 --include="$include" "$SUITE" "$PARTIAL/rootfs" ${MIRROR:+"$MIRROR"}
# The alternatives libblas3/liblapack3's postinst would have set (update-alternatives did not run).
for lib in blas lapack; do
  ln -sf "$lib/lib$lib.so.3" "$PARTIAL/rootfs/usr/lib/aarch64-linux-gnu/lib$lib.so.3"
done
mkdir -p "$PARTIAL/rootfs/proc"
pi4_cpuinfo > "$PARTIAL/rootfs/proc/cpuinfo"

say "installing aarch64 wheels: ${LITERT_WHEELS[*]} | ${TFLITE_RUNTIME_WHEELS[*]} ($(elapsed))"
pip_for_aarch64 "$PARTIAL/env/litert" "${LITERT_WHEELS[@]}"
# tflite-runtime 2.14 needs numpy<2: Debian's numpy 1.24 in the root filesystem is that numpy, so only
# the wheel itself goes in (its one dependency, numpy>=1.23.2, is met by Debian's).
pip_for_aarch64 "$PARTIAL/env/tflite-runtime" --no-deps "${TFLITE_RUNTIME_WHEELS[@]}"

write_wrapper python3-arm64 litert
write_wrapper python3-arm64-tflite-runtime tflite-runtime

say "checking both pythons under emulation (the first run also writes their bytecode caches) ($(elapsed))"
smoke_test "$PARTIAL"
"$PARTIAL/bin/python3-arm64" -c 'import json, os, platform, sys, numpy, ai_edge_litert, onnxruntime
print(json.dumps({"machine": platform.machine(), "python": platform.python_version(),
                  "numpy": numpy.__version__, "ai_edge_litert": ai_edge_litert.__version__,
                  "onnxruntime": onnxruntime.__version__, "emulator": os.environ.get("EDGECOMP_EMULATOR")}))' \
  > "$PARTIAL/versions-litert.json"
"$PARTIAL/bin/python3-arm64-tflite-runtime" -c 'import json, platform, numpy, tflite_runtime
print(json.dumps({"numpy": numpy.__version__, "tflite_runtime": tflite_runtime.__version__}))' \
  > "$PARTIAL/versions-tflite-runtime.json"
"$(host_python)" - "$PARTIAL" <<'EOF'
import json, sys
from pathlib import Path
folder = Path(sys.argv[1])
versions = json.loads((folder / "versions-litert.json").read_text())
versions["tflite_runtime_env"] = json.loads((folder / "versions-tflite-runtime.json").read_text())
(folder / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")
for name in ("versions-litert.json", "versions-tflite-runtime.json"):
    (folder / name).unlink()
EOF
recipe_hash > "$PARTIAL/recipe.sha256"  # written last: its presence means the build completed

# The loopback sshd's keys and state (scripts/arm64-pi-sshd.sh) belong to the folder, not the recipe.
[ -d "$DIR/ssh" ] && mv "$DIR/ssh" "$PARTIAL/ssh"
rm -rf "$DIR"
mv "$PARTIAL" "$DIR"
say "built $DIR in $(elapsed): $(tr -d '\n' < "$DIR/versions.json" | tr -s ' ')"
