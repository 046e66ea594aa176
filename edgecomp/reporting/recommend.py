"""The artifact to ship: one rule, recorded in report.json as `recommended` and marked in every table.

- With quality gates given (`--max-size-mb`, `--max-latency-ms`, `--min-accuracy`): the most accurate
  `ok` artifact that meets every gate (ties: the smaller file); none when no artifact meets them.
- Without gates: the smallest `ok` artifact whose accuracy is within 1 point of the most accurate one.

The original float32 model of a build (`role: original`) is the baseline of every ratio, not a
candidate, unless it is the only `ok` artifact: shipping it is what compression set out to avoid.
The floor (`role: floor`, the PTQ int8 of a user's model unchanged) is a candidate like the chain's
files, so a chain file is recommended only when it beats the floor by the same rule; the legend
then sets the two side by side.
"""

from __future__ import annotations

from typing import Optional

from edgecomp.reporting import cells
from edgecomp.reporting.gates import bound_violations

WITHIN_POINTS = 1.0
MARK = "★"
RULES = {
    "gates": f"{MARK} the artifact to ship: the most accurate ok artifact that meets every quality gate given.",
    "within_1pt": f"{MARK} the artifact to ship: the smallest ok artifact within {WITHIN_POINTS:g} point of the most "
                  "accurate one (the original float32 model is the baseline, not a candidate).",
}
GATE_KEYS = ("max_size_mb", "max_latency_ms", "min_accuracy")


def _candidates(report: dict) -> list[dict]:
    measured = [a for a in report.get("artifacts") or []
                if a.get("status") == "ok" and a.get("accuracy") is not None and a.get("size_bytes")]
    return [a for a in measured if a.get("role") != "original"] or measured

def recommend(report: dict, gates: Optional[dict] = None) -> dict:
    """The artifact to ship and why (see `pick`), with `floor` and `chain` (the chain's own pick,
    the floor left out) when the build exported a floor."""
    picked = pick(report, gates)
    floor = next((a for a in report.get("artifacts") or [] if a.get("role") == "floor"), None)
    if floor is not None:
        chain_only = {**report, "artifacts": [a for a in report["artifacts"] if a.get("role") != "floor"]}
        picked.update(floor=floor["name"], chain=pick(chain_only, gates)["name"])
    return picked

def pick(report: dict, gates: Optional[dict] = None) -> dict:
    """The artifact to ship and why.

    Args:
        report: A report.json document (its artifacts are read; nothing is changed).
        gates: The quality gates given to the command ({"max_size_mb", "max_latency_ms", "min_accuracy"},
            None values unbounded) [report["gates"]].

    Returns:
        {"name": artifact name or None, "rule": "gates" | "within_1pt", "reason": one sentence}.
    """

    gates = {key: value for key, value in (gates if gates is not None else report.get("gates") or {}).items()
             if key in GATE_KEYS and value is not None}
    candidates = _candidates(report)
    if gates:
        passing = [a for a in candidates if not bound_violations(a["name"], a, gates.get("max_size_mb"),
                                                                   gates.get("max_latency_ms"),
                                                                   gates.get("min_accuracy"))]
        bounds = ", ".join(f"--{key.replace('_', '-')} {value:g}" for key, value in gates.items())
        if not passing:
            return {"name": None, "rule": "gates", "reason": f"no ok artifact meets every gate ({bounds})."}
        pick = max(passing, key=lambda a: (a["accuracy"], -a["size_bytes"]))
        return {"name": pick["name"], "rule": "gates",
                "reason": f"the most accurate ok artifact meeting {bounds}: {cells.percent(pick['accuracy'])}, "
                          f"{cells.size(pick['size_bytes'])}."}
    if not candidates:
        return {"name": None, "rule": "within_1pt", "reason": "no ok artifact with a measured accuracy."}
    best = max(candidates, key=lambda a: a["accuracy"])
    within = [a for a in candidates if 100 * (best["accuracy"] - a["accuracy"]) <= WITHIN_POINTS + 1e-9]
    pick = min(within, key=lambda a: (a["size_bytes"], -a["accuracy"]))
    return {"name": pick["name"], "rule": "within_1pt",
            "reason": f"the smallest ok artifact ({cells.size(pick['size_bytes'])}, "
                      f"{cells.percent(pick['accuracy'])}) within {WITHIN_POINTS:g} point of the most accurate, "
                      f"{best['name']} ({cells.percent(best['accuracy'])})."}

def recommended_of(report: dict) -> dict:
    """The report's `recommended` entry, worked out for reports written before it existed."""
    return report.get("recommended") or recommend(report)

def legend(report: dict) -> str:
    """The sentence under a table saying which rule marked the artifact to ship, and why that one."""
    picked = recommended_of(report)
    shown = picked["name"] or "none"
    return f"{RULES[picked['rule']]} Here: {shown}, {picked['reason']}" + floor_sentence(report, picked)

def _described(artifact: dict) -> str:
    accuracy = "failed" if artifact.get("status") == "failed" else cells.percent(artifact.get("accuracy"))
    return f"{artifact['name']} ({cells.size(artifact.get('size_bytes'))}, {accuracy})"

def floor_sentence(report: dict, picked: dict) -> str:
    """' Floor: ... against the chain's pick ...': what the chain bought over the PTQ int8 of the
    unchanged model, or '' when the build exported no floor."""
    if not picked.get("floor"):
        return ""
    by_name = {a["name"]: a for a in report.get("artifacts") or []}
    floor, chain = by_name[picked["floor"]], by_name.get(picked.get("chain") or "")
    sentence = f" Floor, the PTQ int8 of your model unchanged: {_described(floor)}"
    if chain is None:
        return sentence + "; the chain has no ok artifact to set beside it."
    sentence += f"; the chain's pick: {_described(chain)}"
    if floor.get("size_bytes") and chain.get("size_bytes") and None not in (floor.get("accuracy"),
                                                                            chain.get("accuracy")):
        sentence += (f", {floor['size_bytes'] / chain['size_bytes']:.2f}x smaller than the floor, "
                     f"{100 * (chain['accuracy'] - floor['accuracy']):+.2f} points")
    if picked["name"] == floor["name"]:
        return sentence + f". {MARK} is the floor: no file of the chain beats it by the rule above."
    return sentence + f". {MARK} is a file of the chain: it beats the floor by the rule above."
