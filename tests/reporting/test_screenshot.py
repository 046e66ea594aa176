"""report.html renders in a real headless Chromium (benchmarks/report/screenshot.py)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "report" / "screenshot.py"
CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else shutil.which("chromium")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_html_renders_to_a_png(build_run_dir, tmp_path):
    png = tmp_path / "report.png"
    proc = subprocess.run([sys.executable, str(SCRIPT), str(build_run_dir), str(png), "--width", "1280",
                           "--height", "2000", "--chromium", CHROMIUM],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert (build_run_dir / "report.html").is_file()  # written from report.json first
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert int.from_bytes(data[16:20], "big") == 1280  # IHDR width
    # A blank page compresses to a few kB; the table, text and plots make it far larger.
    assert len(data) > 50_000
