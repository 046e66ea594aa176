"""The kernel-relevant CPU features recorded beside every latency figure."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgecomp.targets.cpu_features import cpuinfo_flags, relevant_cpu_features
from edgecomp.targets.host import host_facts

X86 = """processor\t: 0
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx avx2 fma f16c avx512f avx512_vnni avx512bw
"""
# A Raspberry Pi 4 (Cortex-A72): no dot-product extension. A Pi 5 (Cortex-A76) lists asimddp.
PI4 = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
"""


@pytest.mark.parametrize(("cpuinfo", "expected"), [
    (X86, ["avx2", "fma", "f16c", "avx512f", "avx512_vnni"]),
    (PI4, ["asimd"]),
    ("processor\t: 0\n", []),
])
def test_relevant_features_are_picked_from_cpuinfo(cpuinfo, expected):
    assert relevant_cpu_features(cpuinfo_flags(cpuinfo)) == expected


def test_host_facts_list_this_machines_features():
    flags = cpuinfo_flags(Path("/proc/cpuinfo").read_text())
    features = host_facts()["cpu_features"]
    assert features == relevant_cpu_features(flags)
    assert all(name in flags.split() for name in features)
