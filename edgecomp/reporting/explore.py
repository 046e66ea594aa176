"""`edgecomp explore`: one artifact of a run opened in Model Explorer with its per-layer overlays.

The overlays are the node-data files a run writes beside each `.tflite` (`edgecomp.exporters.node_data`):
`RUN_DIR/explore/<artifact>/<metric>.json`. Model Explorer is the `explore` extra.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edgecomp.core.errors import UsageError

INSTALL_HINT = "pip install 'edgecomp[explore]' (it installs ai-edge-model-explorer)"
EXPLORE_DIR = "explore"


@dataclass(frozen=True)
class ExploreTarget:
    """The model file to open and the overlays to put on it."""

    artifact: str
    model: Path
    node_data: tuple[Path, ...]


def node_data_dir(run_dir: Path, artifact_name: str) -> Path:
    return Path(run_dir) / EXPLORE_DIR / artifact_name


def find_explore_target(run_dir: Path, artifact: Optional[str] = None) -> ExploreTarget:
    """The artifact named (or the run's ★ one, else its first `.tflite`) and its node-data files.

    Raises:
        UsageError: no report.json, no such artifact, or an artifact with no `.tflite` file.
    """
    report_path = Path(run_dir) / "report.json"
    if not report_path.is_file():
        raise UsageError(f"{report_path} not found: give the folder of an `edgecomp build` run")
    report = json.loads(report_path.read_text())
    if "targets" in report:  # OUT/report.json of a run on several targets: its files sit in each target's report
        folders = sorted(path.parent.name for path in Path(run_dir).glob("*/report.json"))
        raise UsageError(f"{report_path} compares several targets; give one target's folder: "
                         + ", ".join(str(Path(run_dir) / folder) for folder in folders))
    tflite = [a for a in report.get("artifacts", []) if str(a.get("name", "")).endswith(".tflite") and a.get("path")]
    if artifact is None:
        recommended = (report.get("recommended") or {}).get("name")
        artifact = recommended if recommended in {a["name"] for a in tflite} else (tflite[0]["name"] if tflite else None)
    found = next((a for a in tflite if a["name"] == artifact), None)
    if found is None:
        names = ", ".join(a["name"] for a in tflite) or "none"
        raise UsageError(f"no .tflite artifact named {artifact!r} in {report_path}; the run has: {names}")
    model = Path(run_dir) / found["path"]
    # A build writes the overlays beside its artifacts/ folder; a target's report of a build on several
    # targets (OUT/<target>/) points at ../artifacts/, so its overlays are in OUT/explore/.
    overlay_dir = node_data_dir(run_dir, found["name"])
    if not overlay_dir.is_dir():
        overlay_dir = node_data_dir(model.resolve().parent.parent, found["name"])
    overlays = list(overlay_dir.glob("*.json"))
    op_profile = Path(run_dir) / f"{Path(found['name']).stem}.op_profile.node_data.json"  # bench --op-profile
    if op_profile.is_file():
        overlays.append(op_profile)
    return ExploreTarget(found["name"], model, tuple(sorted(overlays, key=_overlay_order)))


# Model Explorer shows the overlay it loaded last: the measured time per op, else the quantization
# error, else the MACs, so the page opens on the view that says the most (the others stay listed).
_SHOWN_FIRST = ("op_profile.node_data", "quantization_snr_db", "macs")


def _overlay_order(path: Path) -> tuple:
    rank = next((i for i, suffix in enumerate(_SHOWN_FIRST) if path.stem.endswith(suffix)), len(_SHOWN_FIRST))
    return (-rank, path.name)


def open_in_model_explorer(target: ExploreTarget, port: int, open_browser: bool) -> None:
    """Serves Model Explorer on 127.0.0.1:`port` with the model and its overlays (blocks until Ctrl-C)."""
    try:
        import model_explorer
    except ImportError:
        raise UsageError(f"`edgecomp explore` needs Model Explorer: {INSTALL_HINT}") from None
    config = model_explorer.config()
    config.add_model_from_path(str(target.model))
    for path in target.node_data:
        config.add_node_data_from_path(str(path))
    model_explorer.visualize_from_config(config, host="127.0.0.1", port=port, no_open_in_browser=not open_browser)
