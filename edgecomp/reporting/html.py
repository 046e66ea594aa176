"""report.html: one self-contained page (inline CSS, plots as data URIs, no scripts, no external assets).

Every string that comes from a report is escaped: artifact names and error messages are user data.
"""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path
from typing import Iterable, Optional

from edgecomp.core.emulation import emulated_note
from edgecomp.core.files import write_bytes_atomically
from edgecomp.reporting import cells
from edgecomp.reporting.mixed_precision import auto_steps_note, auto_steps_table, searched
from edgecomp.reporting.op_tables import (
    OP_PROFILE_NOTE,
    node_type_comparison,
    node_type_table,
    profiled,
    top_nodes_table,
)
from edgecomp.reporting.plots import report_plots
from edgecomp.reporting.schema import STATUS_LEGEND
from edgecomp.reporting.tables import (
    Table,
    artifact_table,
    cross_check_table,
    deployment_table,
    model_notes,
    parity_table,
    stage_table,
    table_notes,
)

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 7px; vertical-align: top; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.failed td { background: #fdecea; } tr.parity_failed td { background: #fff6e0; }
tr.dominated td { color: #888; }
.status-ok { color: #1a7f37; font-weight: 600; } .status-parity_failed { color: #b35c00; font-weight: 600; }
.status-failed { color: #c62828; font-weight: 600; } .error { color: #c62828; font-size: 12px; }
.meta { color: #555; } pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 12px; }
figure { display: inline-block; vertical-align: top; width: 48%; margin: 0.5em 1% 0.5em 0; }
img { width: 100%; border: 1px solid #eee; }
ul.warnings li { background: #fff6e0; padding: 2px 6px; margin: 2px 0; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 1em; } dt { font-weight: 600; }
"""


def page(title: str, body: Iterable[str]) -> str:
    """A whole HTML document around already-escaped body fragments."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")

def image(png: bytes, caption: str) -> str:
    """A figure with the PNG embedded as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    return (f"<figure><img src=\"data:image/png;base64,{data}\" alt=\"{escape(caption)}\">"
            f"<figcaption>{escape(caption)}</figcaption></figure>")

def html_table(table: Table) -> str:
    """A `Table` as HTML: rows classed by status (and marks such as "dominated"), a row's note (an
    artifact's error) under its name, numbers right-aligned. Every cell is escaped here."""
    lines = [f"<table>\n<thead><tr>{''.join(f'<th>{escape(h)}</th>' for h in table.header)}</tr></thead>\n<tbody>"]
    for row, row_cells in zip(table.rows, table.cells):
        classes = " ".join(c for c in (row.status, *row.classes) if c)
        tds = []
        for column, cell in zip(table.columns, row_cells):
            content = escape(cell)
            if column.shows_note and row.note:
                content += f"<div class=\"error\">{escape(row.note)}</div>"
            css = "num" if column.numeric else f"status-{row.status}" if column.shows_status and row.status else ""
            tds.append(f"<td class=\"{escape(css)}\">{content}</td>" if css else f"<td>{content}</td>")
        lines.append((f"<tr class=\"{escape(classes)}\">" if classes else "<tr>") + "".join(tds) + "</tr>")
    lines.append("</tbody>\n</table>")
    return "\n".join(lines)

def definition_list(mapping: dict) -> str:
    """A <dl> of key: value (nested values as compact JSON)."""
    if not mapping:
        return f"<p class=\"meta\">{cells.DASH}</p>"
    items = []
    for key, value in mapping.items():
        shown = json.dumps(value) if isinstance(value, (dict, list)) else cells.text(value)
        items.append(f"<dt>{escape(str(key))}</dt><dd>{escape(shown)}</dd>")
    return "<dl>" + "".join(items) + "</dl>"

def legend_html() -> str:
    items = "".join(f"<li><span class=\"status-{escape(k)}\">{escape(cells.status_label(k))}</span>: {escape(v)}</li>"
                    for k, v in STATUS_LEGEND.items())
    return f"<ul>{items}</ul>"

def _plan_text(plan) -> str:
    """The plan as YAML (what users write), JSON when PyYAML cannot represent it."""
    try:
        import yaml

        return yaml.safe_dump(plan, sort_keys=False, default_flow_style=False)
    except Exception:  # noqa: BLE001 - any representer error: JSON always works for report.json data
        return json.dumps(plan, indent=2)

def shown(value) -> str:
    """A value from the report as escaped HTML text (None -> the dash)."""
    return escape(cells.text(value))

def _stages_html(report: dict) -> str:
    table = stage_table(report)
    return html_table(table) if table.rows else "<p class=\"meta\">no stages (benchmark of existing files).</p>"

def _parity_html(report: dict) -> str:
    table = parity_table(report)
    return "<h2>Parity with Keras</h2>\n" + html_table(table) if table.rows else ""

def _warnings_html(report: dict) -> str:
    warnings = report.get("warnings") or []
    if not warnings:
        return ""
    items = "".join(f"<li><b>{escape(w['code'])}</b>: {escape(w['message'])} <i>Hint:</i> {escape(w['hint'])}</li>"
                    for w in warnings)
    return f"<h2>Warnings</h2>\n<ul class=\"warnings\">{items}</ul>"

def _op_profile_html(report: dict) -> list[str]:
    artifacts = profiled(report)
    if not artifacts:
        return []
    parts = ["<h2>Per-op profile</h2>", f"<p class=\"meta\">{escape(OP_PROFILE_NOTE)}</p>"]
    for artifact in artifacts:
        parts += [f"<h3>{escape(artifact['name'])}</h3>", "<p>Slowest nodes</p>", html_table(top_nodes_table(artifact)),
                  "<p>By node type</p>", html_table(node_type_table(artifact))]
    if len(artifacts) > 1:
        parts += ["<h3>Node types across files</h3>", html_table(node_type_comparison(report))]
    return parts


def _auto_steps_html(report: dict) -> list[str]:
    """The `auto` mixed-precision search, step by step, for each artifact it made."""
    parts = []
    for artifact in searched(report):
        parts += [f"<h3>{escape(artifact['name'])}</h3>", f"<p class=\"meta\">{escape(auto_steps_note(artifact))}</p>",
                  html_table(auto_steps_table(artifact))]
    return ["<h2>Mixed precision search (auto)</h2>", *parts] if parts else []


def _model_notes_html(report: dict) -> str:
    notes = model_notes(report)
    if not notes:
        return ""
    return "<h2>The model as given</h2>\n<ul>" + "".join(f"<li>{escape(note)}</li>" for note in notes) + "</ul>"

def render_html(report: dict, plots: Optional[dict[str, bytes]] = None) -> str:
    """The whole report page as a string.

    Args:
        report: A report.json document.
        plots: Title -> PNG bytes [`edgecomp.reporting.plots.report_plots(report)`].

    Returns:
        A self-contained HTML document.
    """
    if plots is None:
        plots = report_plots(report)
    plan = report.get("plan") or {}
    target = report.get("target") or {}
    keras = report.get("keras") or {}
    dataset = report.get("dataset") or {}
    title = f"edgecomp report: {plan.get('name', 'run')}"
    notes = table_notes(report)
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p class=\"meta\">Created {shown(report.get('created'))} by edgecomp "
        f"{shown(report.get('edgecomp_version'))} (<code>{shown(report.get('command'))}</code>), "
        f"{shown(report.get('wall_seconds'))} s wall time. Target <b>{shown(target.get('name'))}</b>, "
        f"dataset <b>{shown(dataset.get('name'))}</b>; Keras model accuracy "
        f"{escape(cells.percent(keras.get('accuracy')))}, "
        f"{escape(cells.number(keras.get('params'), 9))} parameters.</p>",
        _warnings_html(report),
        _model_notes_html(report),
        "<h2>Artifacts</h2>", *[f"<p><b>{escape(n)}</b></p>" for n in [emulated_note(report)] if n],
        html_table(artifact_table(report)), legend_html(),
        "".join(f"<p class=\"meta\">{escape(n)}</p>" for n in notes),
        "<h2>Plots</h2>", "".join(image(png, caption) for caption, png in plots.items()),
        _parity_html(report),
        *_auto_steps_html(report),
        *(["<h2>Board vs host accuracy (same file, runtime and images)</h2>", html_table(cross_check_table(report))]
          if cross_check_table(report).rows else []),
        *_op_profile_html(report),
        "<h2>Deployment checks</h2>", html_table(deployment_table(report)),
        "<h2>Stages</h2>", _stages_html(report),
        "<h2>Target</h2>", definition_list({"name": target.get("name"), "kind": target.get("kind")}),
        definition_list(target.get("facts") or {}),
        "<h2>Dataset</h2>", definition_list(dataset),
        "<h2>Environment</h2>", "<h3>Host</h3>", definition_list(report.get("host") or {}),
        "<h3>Versions</h3>", definition_list(report.get("versions") or {}),
        "<h2>Plan</h2>", f"<pre>{escape(_plan_text(plan))}</pre>",
    ]
    return page(title, body)

def write_html(report: dict, path: Path) -> Path:
    """Renders `report` to a self-contained HTML file, written atomically.

    Args:
        report: A report.json document.
        path: Where to write (usually RUN_DIR/report.html).

    Returns:
        The path written.
    """
    return write_bytes_atomically(Path(path), render_html(report).encode("utf-8"))
