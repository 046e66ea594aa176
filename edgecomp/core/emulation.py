"""Is a number from an emulated device? One predicate that reports, Pareto fronts and gates share.

A target profile with `emulated: true` (an arm64 Pi under QEMU) measures real accuracy through the
ARM runtimes, but its latencies and memory are the emulator's: they are labelled, never ranked on a
Pareto front, never checked against a latency gate and never compared with a real device's.
"""

from __future__ import annotations

from typing import Any, Optional

EMULATED_NOTE = ("Emulated target: latencies and memory are QEMU's on this machine, not the device's; they are "
                 "not comparable with any real device, and are left out of Pareto fronts and latency gates. "
                 "Accuracy and load results are the device runtimes' own.")


def is_emulated(item: Any) -> bool:
    """True when `item` was measured on (or is) an emulated target.

    Args:
        item: A report.json dict (its target facts say `emulated`), an artifact or comparison-row dict
            (its own `emulated` key), a `TargetProfile`, or a Target built from one.

    Returns:
        False for anything that does not say it is emulated.
    """
    if item is None:
        return False
    if isinstance(item, dict):
        if item.get("emulated") is True:
            return True
        target = item.get("target")
        facts = target.get("facts") if isinstance(target, dict) else None
        return isinstance(facts, dict) and facts.get("emulated") is True
    profile = getattr(item, "profile", item)
    return getattr(profile, "emulated", False) is True


def emulated_note(report: dict) -> Optional[str]:
    """The sentence every renderer shows above an emulated report's numbers, or None."""
    return EMULATED_NOTE if is_emulated(report) else None

