"""Model Explorer showing a run's artifact with one of edgecomp's per-layer overlays, as a PNG (for the README).

Usage:
    python benchmarks/report/explore_screenshot.py OUT.png [--run RUN_DIR] [--artifact NAME] [--overlay METRIC]
                                                   [--width 1400] [--height 1000] [--chromium PATH]

When RUN_DIR (default: a temporary folder) holds no report.json yet, a small run is built there first:
cnn-student trained one epoch on 2,000 Fashion-MNIST images, then int8 (`edgecomp.build`, 1-3 minutes on
two cores). The README's benchmarks/report/explore.png is this command with no options. Then it serves the run
with `edgecomp explore RUN --no-browser` on a free 127.0.0.1 port, opens the page in the system's
Chromium driven by playwright (the `dev` extra; never a browser playwright downloads), and waits until
the graph is drawn with the overlay: every overlay loaded in the node-data panel, the layers expanded,
METRIC (default macs) selected, and both ends of its colour gradient drawn on the graph's canvas. Only
then is the screenshot taken: a screenshot on page load catches Model Explorer still converting the model.

Chromium resolves no host but 127.0.0.1 (`--host-resolver-rules`): the page asks Google's font server for
its web fonts, those requests fail here and it falls back to local fonts. tests/reporting/test_explore.py
drives the same functions and checks what they read from the page.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHROMIUM = "/usr/bin/chromium"
LOOPBACK = "127.0.0.1"
# Every host name fails to resolve except the loopback address the server listens on.
CHROMIUM_ARGS = [f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}", "--no-sandbox",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run"]
PANEL = "node-data-provider-summary-panel"  # Model Explorer's node-data panel (its Angular element)


def find_chromium(preferred: str = DEFAULT_CHROMIUM) -> str | None:
    """The Chromium binary: `preferred` if it exists, else chromium / chromium-browser / google-chrome on PATH."""
    if Path(preferred).is_file():
        return preferred
    for name in ["chromium", "chromium-browser", "google-chrome"]:
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def start_explore(run_dir: Path, port: int, artifact: str | None = None,
                  timeout_s: float = 120) -> tuple[subprocess.Popen, str]:
    """Starts `edgecomp explore RUN_DIR --no-browser --port PORT` (this checkout's edgecomp) and returns the
    process and the page address it prints. The caller terminates the process.

    Raises:
        RuntimeError: the command exited or printed no address within `timeout_s` (its output is in the message).
    """
    command = [sys.executable, "-c", "from edgecomp.cli.main import run; run()", "explore", str(run_dir),
               "--no-browser", "--port", str(port)] + (["--artifact", artifact] if artifact else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        line = server.stdout.readline()
        if not line and server.poll() is not None:
            break
        lines.append(line)
        if "?data=" in line:
            return server, line.strip()
    server.terminate()
    server.wait(timeout=20)
    raise RuntimeError("edgecomp explore printed no address:\n" + "".join(lines[-20:]))


def gradient_ends(node_data_file: Path) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The RGB colours an overlay gives its lowest and its highest value (its gradient's first and last stops)."""
    graph = next(iter(json.loads(Path(node_data_file).read_text()).values()))
    stops = sorted(graph["gradient"], key=lambda stop: stop["stop"])

    def rgb(hex_colour: str) -> tuple[int, int, int]:
        hex_colour = hex_colour.lstrip("#")
        return tuple(int(hex_colour[i:i + 2], 16) for i in (0, 2, 4))

    return rgb(stops[0]["bgColor"]), rgb(stops[-1]["bgColor"])


@dataclass
class ExploreView:
    """What the page showed when the screenshot was taken."""

    overlays: list[str]  # the node-data panel's rows, in its order
    failed_overlays: list[str]  # rows showing an error icon
    selected: str  # the overlay drawn on the graph
    # the node-data table's column for the selected overlay: (node label, cell text, cell background), one per
    # node with a value
    cells: list[tuple[str, str, str]] = field(default_factory=list)
    graph_pixels: dict[tuple[int, int, int], int] = field(default_factory=dict)  # gradient end colour -> pixels
    outside_requests: list[str] = field(default_factory=list)  # requests to other hosts that got an answer
    seconds_to_graph: float = 0.0


def _graph_pixels(page, colours) -> dict[tuple[int, int, int], int]:
    from PIL import Image

    image = Image.open(io.BytesIO(page.locator("webgl-renderer").first.screenshot())).convert("RGB")
    counts = dict.fromkeys(colours, 0)
    for count, colour in image.getcolors(maxcolors=image.width * image.height):
        if colour in counts:
            counts[colour] += count
    return counts


def _selected_column(page, overlay: str) -> list[tuple[str, str, str]]:
    """The node-data table's cells of `overlay`'s column (rows whose cell is not "-")."""
    return page.evaluate("""([panel, overlay]) => {
        const table = document.querySelector(panel + ' table.results');
        if (!table) return [];
        const names = [...table.querySelectorAll('thead th.value-col .stat-label')].map(e => e.textContent.trim());
        const col = names.indexOf(overlay);
        if (col < 0) return [];
        return [...table.querySelectorAll('tbody tr')].map(row => {
            const cell = row.querySelectorAll('td.value-col')[col];
            return [row.querySelector('td.node-label').textContent.trim(), cell.textContent.trim(),
                    getComputedStyle(cell).backgroundColor];
        }).filter(([, text]) => text !== '-');
    }""", [PANEL, overlay])


def capture(url: str, png_path: Path | None, overlay: str, colours, overlay_count: int,
            chromium: str | None = None, width: int = 1400, height: int = 1000, timeout_s: float = 120) -> ExploreView:
    """Opens Model Explorer at `url`, waits for its `overlay_count` overlays to load, shows `overlay` on the
    expanded graph, waits until the graph's canvas shows both `colours` (the overlay's lowest and highest
    value), and writes the page to `png_path`.

    Raises:
        FileNotFoundError: no Chromium.
        TimeoutError: the overlays did not load, or the graph was not drawn with the overlay's colours in time
            (a screenshot of the page as it was is written to `png_path` first).
    """
    from playwright.sync_api import sync_playwright

    binary = chromium or find_chromium()
    if binary is None:
        raise FileNotFoundError("no Chromium found; install Debian's `chromium` or pass --chromium PATH.")
    started = time.time()
    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("requestfinished", lambda request: outside.append(request.url)
                    if urlparse(request.url).hostname not in (LOOPBACK, None) else None)
            page.set_default_timeout(timeout_s * 1000)
            page.goto(url)
            rows = page.locator(f"{PANEL} .index-row")
            # The panel gets a row per overlay as the app starts loading it; a row shows its index number once
            # its file is loaded (a spinner until then), or an error icon.
            page.wait_for_function("""([panel, count]) => {
                const rows = document.querySelectorAll(panel + ' .index-row');
                return rows.length >= count && [...rows].every(r => r.querySelector('.index-number, .error'));
            }""", arg=[PANEL, overlay_count])
            overlays = [name.strip() for name in rows.locator(".run-name").all_inner_texts()]
            failed = [name.strip() for name in rows.filter(has=page.locator(".error")).locator(".run-name")
                      .all_inner_texts()]
            # The info panel's graph info appears once the model is converted and laid out; then the toolbar's
            # "expand all layers" has a graph to expand.
            page.get_by_text("op node count").first.wait_for()
            page.locator("mat-icon.expand-all").first.click()
            rows.filter(has=page.locator(".run-name", has_text=overlay)).first.click()
            deadline = time.time() + timeout_s
            while True:
                pixels = _graph_pixels(page, colours)
                if all(pixels.values()):
                    # The expanded graph fills the view's height, its top under the toolbar: zoom out a step
                    # (Ctrl+wheel on the middle of the canvas), then park the mouse where it highlights nothing.
                    page.wait_for_timeout(500)
                    box = page.locator("webgl-renderer").first.bounding_box()
                    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                    page.keyboard.down("Control")
                    page.mouse.wheel(0, 10)
                    page.keyboard.up("Control")
                    page.mouse.move(box["x"] + 5, box["y"] + box["height"] / 2)
                    page.wait_for_timeout(1000)
                    break
                if time.time() > deadline:
                    if png_path:
                        page.screenshot(path=str(png_path))
                    raise TimeoutError(f"the graph did not show {overlay}'s colours {list(colours)} within "
                                       f"{timeout_s:.0f} s (pixels: {pixels}); the page is in {png_path}")
                page.wait_for_timeout(500)
            pixels = _graph_pixels(page, colours)
            selected = page.locator(f"{PANEL} .index-row.selected .run-name").first.inner_text().strip()
            cells = [tuple(cell) for cell in _selected_column(page, overlay)]
            seconds = time.time() - started
            if png_path:
                Path(png_path).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(png_path))
        finally:
            browser.close()
    return ExploreView(overlays, failed, selected, cells, pixels, outside, round(seconds, 1))


def shrink_png(path: Path, colours: int = 128) -> None:
    """Rewrites the PNG with a palette of `colours` (no dithering): the page is flat colours and text, and the
    file shrinks about threefold."""
    from PIL import Image

    with Image.open(path) as image:
        palette = image.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT,
                                                dither=Image.Dither.NONE)
    palette.save(path, optimize=True)


def build_small_run(out: Path) -> Path:
    """cnn-student trained one epoch on 2,000 Fashion-MNIST images, then int8: a run with overlays."""
    sys.path.insert(0, str(REPO_ROOT))
    import edgecomp

    edgecomp.build("cnn-student", "fashion_mnist", target="host", epochs=1, train_limit=2000, seed=0,
                   stages=["train", {"stage": "quantize", "modes": ["int8"]}], out=out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_png", type=Path)
    parser.add_argument("--run", type=Path, default=None,
                        help="an `edgecomp build` run; a small one is built there when it has no report.json "
                             "[a temporary folder]")
    parser.add_argument("--artifact", default=None, help="a .tflite artifact of the run [its ★ one]")
    parser.add_argument("--overlay", default="macs", help="the overlay drawn on the graph [macs]")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--chromium", default=None, help=f"Chromium binary [{DEFAULT_CHROMIUM} or PATH]")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="edgecomp-explore-") as tmp:
        run_dir = args.run or Path(tmp) / "run"
        if not (run_dir / "report.json").is_file():
            build_small_run(run_dir)
        sys.path.insert(0, str(REPO_ROOT))
        from playwright.sync_api import Error as PlaywrightError

        from edgecomp.core.errors import EdgecompError
        from edgecomp.reporting.explore import find_explore_target

        try:
            target = find_explore_target(run_dir, args.artifact)
        except EdgecompError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        overlay_file = next((p for p in target.node_data if p.stem == args.overlay), None)
        if overlay_file is None:
            print(f"error: {target.artifact} has no {args.overlay} overlay; it has: "
                  f"{', '.join(p.stem for p in target.node_data) or 'none'}", file=sys.stderr)
            return 1
        server, url = start_explore(run_dir, free_port(), target.artifact)
        try:
            view = capture(url, args.out_png, args.overlay, gradient_ends(overlay_file), len(target.node_data),
                           args.chromium, args.width, args.height)
        except (FileNotFoundError, TimeoutError, PlaywrightError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        finally:
            server.terminate()
            server.wait(timeout=20)
    shrink_png(args.out_png)
    print(f"wrote {args.out_png} ({args.out_png.stat().st_size} bytes): {target.artifact} with {view.selected} "
          f"drawn, {len(view.cells)} layers in its column, graph drawn after {view.seconds_to_graph} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
