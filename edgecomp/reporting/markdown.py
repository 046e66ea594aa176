"""report.md: the run's plan, environment, stages and the artifact table, readable in any viewer."""

from __future__ import annotations

import json

from edgecomp.core.emulation import emulated_note
from edgecomp.reporting import cells
from edgecomp.reporting.mixed_precision import auto_steps_note, auto_steps_table, searched
from edgecomp.reporting.op_tables import (
    OP_PROFILE_NOTE,
    node_type_comparison,
    node_type_table,
    profiled,
    top_nodes_table,
)
from edgecomp.reporting.schema import STATUS_LEGEND
from edgecomp.reporting.tables import (
    TERMINAL_COLUMNS,
    Table,
    artifact_table,
    cross_check_table,
    deployment_table,
    memory_note,
    model_notes,
    parity_table,
    ratio_note,
    recommend_legend,
    stage_table,
    table_notes,
)


def markdown_table(table: Table) -> str:
    """A `Table` as a GitHub-flavoured markdown table (a `|` inside a cell is escaped)."""
    lines = ["| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in table.cells]
    return "\n".join(lines)


def summary_markdown(report: dict) -> str:
    """The table `build` prints (its eight columns) and the notes under it, as markdown.

    The README's example is this function's output on the committed default-build report
    (benchmarks/default_build/run.py writes it; a test checks that they agree).
    """
    return markdown_table(artifact_table(report, TERMINAL_COLUMNS)) + "\n\n" + "\n\n".join(table_notes(report)) + "\n"


def _skipped_files(dataset: dict) -> str:
    """A sentence naming the images the loader could not decode (older reports have none)."""
    skipped = dataset.get("skipped_files") or []
    if not skipped:
        return ""
    names = "; ".join(f"`{item['path']}` ({item['reason']})" for item in skipped[:10])
    more = f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
    return f" Skipped {len(skipped)} image(s) that could not be decoded: {names}{more}."


def _user_model_use(report: dict) -> str:
    """' Your model file: loaded as is ...' from the train stage's record, or '' (zoo model, older report)."""
    use = next((stage.get("info", {}).get("model") for stage in report.get("stages") or []
                if stage.get("stage") == "train"), None)
    return f" Your model file: {use}." if use else ""


def warnings_markdown(report: dict) -> list[str]:
    """The "Warnings" section (sanity checks' findings), or nothing when there are none."""
    warnings = report.get("warnings") or []
    if not warnings:
        return []
    return ["## Warnings", "\n".join(f"- **{w['code']}**: {w['message']} *Hint:* {w['hint']}" for w in warnings)]


def render_markdown(report: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v)
    floor = report.get("timing_floor_ms") or {}
    parts = [
        f"# edgecomp report: {report['plan']['name']}",
        f"Created {report['created']} by edgecomp {report['edgecomp_version']} (`{report['command']}`), "
        f"{report['wall_seconds']} s wall time.",
        f"Target **{report['target']['name']}**; dataset **{report['dataset']['name']}** "
        f"({report['dataset']['source']}, {report['dataset']['test']} test images, "
        f"normalisation {report['dataset']['normalization']})." + _skipped_files(report['dataset']),
        f"Keras model: {cells.number(report['keras']['params'], 9)} parameters, test accuracy "
        f"{cells.percent(report['keras']['accuracy'])}." + _user_model_use(report),
        *warnings_markdown(report),
        *([f"**Stopped before the {report['stopped']['before_stage']} stage**: {report['stopped']['reason']}"]
          if report.get("stopped") else []),
        *(["## The model as given", "\n".join(f"- {note}" for note in model_notes(report))] if model_notes(report)
          else []),
        "## Artifacts",
        *[f"**{note}**" for note in [emulated_note(report)] if note],
        markdown_table(artifact_table(report)),
        "Status: " + "; ".join(f"**{cells.status_label(k)}**: {v}" for k, v in STATUS_LEGEND.items()) + ".",
        "Accuracy is measured through each artifact on the test images; latency is one image per "
        f"invocation with {report['plan']['bench']['threads']} thread(s). The runner's own timing floor "
        f"(a trivial model, same run) is p50 {cells.ms(floor.get('p50'))} ms. " + ratio_note(),
        recommend_legend(report),
    ]
    if memory_note(report):
        parts.append(memory_note(report))
    failures = [a for a in report["artifacts"] if a.get("error")]
    if failures:
        parts.append("### Problems\n" + "\n".join(f"- `{a['name']}`: {a['error']}" for a in failures))
    parity = parity_table(report)
    if parity.rows:
        parts += ["## Parity with Keras", markdown_table(parity)]
    parts += auto_steps_markdown(report)
    cross_check = cross_check_table(report)
    if cross_check.rows:
        parts += ["## Board vs host accuracy (same file, runtime and images)", markdown_table(cross_check)]
    parts += op_profile_markdown(report)
    parts += ["## Deployment checks", markdown_table(deployment_table(report)),
              "## Stages", markdown_table(stage_table(report)),
              "## Environment", f"Host: {report['host']['cpu']}, {report['host']['cores']} cores, "
              f"{report['host']['os']}.{cpu_features_sentence(report['host'])}", f"Versions: {versions}.",
              "## Plan", "```json\n" + json.dumps(report["plan"], indent=2) + "\n```"]
    return "\n\n".join(parts) + "\n"


def auto_steps_markdown(report: dict) -> list[str]:
    """The "Mixed precision search (auto)" section: each `auto` artifact's steps, or nothing."""
    parts = []
    for artifact in searched(report):
        parts += [f"### `{artifact['name']}`", auto_steps_note(artifact), markdown_table(auto_steps_table(artifact))]
    return ["## Mixed precision search (auto)", *parts] if parts else []


def op_profile_markdown(report: dict) -> list[str]:
    """The "Per-op profile" section: each profiled file's slowest nodes and node types, then the files side by side."""
    artifacts = profiled(report)
    missing = [a for a in report.get("artifacts") or [] if a.get("op_profile_error")]
    if not artifacts and not missing:
        return []
    parts = ["## Per-op profile", OP_PROFILE_NOTE]
    if missing:
        parts.append("\n".join(f"- no op profile for `{a['name']}`: {a['op_profile_error']}" for a in missing))
    for artifact in artifacts:
        parts += [f"### `{artifact['name']}`", "Slowest nodes:", markdown_table(top_nodes_table(artifact)),
                  "By node type:", markdown_table(node_type_table(artifact))]
    if len(artifacts) > 1:
        parts += ["### Node types across files", markdown_table(node_type_comparison(report))]
    return parts


def cpu_features_sentence(facts: dict) -> str:
    """' CPU features: avx2, fma.' (the ones that pick int8/float kernels), or '' for an older report."""
    if "cpu_features" not in facts:
        return ""
    return f" CPU features: {', '.join(facts['cpu_features']) or 'none of the int8/float16 extensions'}."
