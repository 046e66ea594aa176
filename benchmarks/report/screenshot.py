"""Render a run's report.html to a PNG with headless Chromium (for the README and the docs).

Usage: python benchmarks/report/screenshot.py RUN_DIR OUT.png [--width 1280] [--height 2000]

RUN_DIR/report.html is written from RUN_DIR/report.json first when it does not exist yet.
The page has no scripts and no external assets, so Chromium runs with networking features off.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHROMIUM = "/usr/bin/chromium"


def find_chromium(preferred: str = DEFAULT_CHROMIUM) -> str | None:
    """The Chromium binary: `preferred` if it exists, else chromium / chromium-browser / google-chrome on PATH."""
    if Path(preferred).is_file():
        return preferred
    for name in ["chromium", "chromium-browser", "google-chrome"]:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot_html(html_path: Path, png_path: Path, width: int = 1280, height: int = 2000,
                    chromium: str | None = None, timeout_s: float = 120) -> Path:
    """Renders a local HTML file to a PNG of `width` x `height` pixels.

    Raises:
        FileNotFoundError: No Chromium binary.
        RuntimeError: Chromium exited without writing the PNG (its last stderr line is in the message).
    """
    binary = chromium or find_chromium()
    if binary is None:
        raise FileNotFoundError("no Chromium found; install Debian's `chromium` or pass --chromium PATH.")
    png_path = Path(png_path).resolve()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    png_path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgecomp-chromium-") as profile:
        command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                   f"--user-data-dir={profile}", f"--screenshot={png_path}", f"--window-size={width},{height}",
                   Path(html_path).resolve().as_uri()]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    if not png_path.is_file():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"chromium exited with code {proc.returncode} without a screenshot: {last}")
    return png_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("out_png", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--chromium", default=None, help=f"Chromium binary [{DEFAULT_CHROMIUM} or PATH]")
    args = parser.parse_args(argv)

    html_path = args.run_dir / "report.html"
    if not html_path.is_file():
        sys.path.insert(0, str(REPO_ROOT))
        from edgecomp.core.errors import EdgecompError
        from edgecomp.reporting.compare import load_report
        from edgecomp.reporting.html import write_html

        try:
            write_html(load_report(args.run_dir), html_path)
        except EdgecompError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    try:
        png = screenshot_html(html_path, args.out_png, args.width, args.height, args.chromium)
    except (FileNotFoundError, RuntimeError, subprocess.TimeoutExpired) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {png} ({png.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
