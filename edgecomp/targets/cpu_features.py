"""The CPU features that decide which kernels a TFLite runtime can use, read from /proc/cpuinfo.

XNNPACK, LiteRT's default CPU path, picks its kernels by instruction set. Its x86 int8 kernels
are built to gain from VNNI (AVX-512 VNNI or AVX-VNNI); whether a small int8 file beats its float32
twin differs from CPU to CPU (the README; benchmarks/xnnpack/). On arm64 the dot-product
(`asimddp`) and `i8mm` extensions play that part. A report records
them so its latency table can be read against the machine it came from.
"""

from __future__ import annotations

# x86 `flags` names, then arm64 `Features` names, in the order a reader would look for them.
RELEVANT_FEATURES = (
    "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8",
    "asimd", "asimdhp", "asimddp", "i8mm", "bf16", "sve", "sve2",
)


def cpuinfo_flags(cpuinfo: str) -> str:
    """The first `flags` (x86) or `Features` (arm) line of /proc/cpuinfo, or ''."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return value.strip()
    return ""


def relevant_cpu_features(flags: str) -> list[str]:
    """The kernel-relevant features present in a flags line, in RELEVANT_FEATURES order."""
    present = set(flags.split())
    return [name for name in RELEVANT_FEATURES if name in present]
