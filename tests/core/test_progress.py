"""Progress: a rich bar with the time left in a terminal (checked in a real pseudo-terminal), no escape
code and one summary line in a pipe, the time left of a loop of similar steps. The Jupyter bar is in
test_progress_notebook.py."""

import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from edgecomp.core import progress
from edgecomp.core.progress import remaining

REPO = Path(__file__).resolve().parents[2]
# What `edgecomp build` does around an export loop: third-party output captured (fd 2 to a log, as
# the default quiet mode does), edgecomp's own lines and bar on the real stderr.
LOOP_SCRIPT = """
import os, time
from edgecomp.core.progress import StepsProgress
from edgecomp.core.verbosity import quiet_third_party

with quiet_third_party():
    with StepsProgress("export", 3, "file", "exported {done} files in {elapsed}") as steps:
        for name in ["a.tflite", "b.tflite", "c.tflite"]:
            steps.begin(f"exporting {name}", status=name)
            os.write(2, b"E0000 a third-party line\\n")
            time.sleep(%(seconds)s)
            steps.advance()
print("done")
"""
ESCAPE = "\x1b["


def run_in_terminal(script: str, timeout: float = 120) -> str:
    """`script` in a child Python whose stdin, stdout and stderr are a pseudo-terminal; all it wrote."""
    controller, terminal = pty.openpty()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               TERM="xterm-256color", COLUMNS="120")
    env.pop("TTY_INTERACTIVE", None)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=terminal, stdout=terminal, stderr=terminal,
                            env=env, close_fds=True)
    os.close(terminal)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(controller)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode("utf-8", errors="replace")


def run_in_pipe(script: str) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_a_terminal_shows_a_rich_bar_with_the_time_left_and_the_step_lines():
    output = run_in_terminal(LOOP_SCRIPT % {"seconds": 0.4})
    assert ESCAPE in output and "━" in output, output  # drawn and redrawn in place
    assert "ETA" in output and "export" in output and "/3" in output
    for index, name in enumerate(["a", "b", "c"], start=1):
        assert f"[{index}/3] exporting {name}.tflite" in output
    assert "exported 3 files in" in output and output.rstrip().endswith("done")
    assert "third-party line" not in output  # the capture still works under the bar


def test_a_pipe_gets_no_escape_code_and_one_summary_line():
    output = run_in_pipe(LOOP_SCRIPT % {"seconds": 0.05})
    assert ESCAPE not in output and "━" not in output, output
    assert [line for line in output.splitlines() if "exported" in line] == [
        next(line for line in output.splitlines() if line.startswith("> exported 3 files in"))]
    assert "> [2/3] exporting b.tflite" in output and "third-party line" not in output


def test_the_step_lines_carry_the_time_left_when_no_bar_is_drawn(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=stream, width=200, force_terminal=False))
    with progress.StepsProgress("export", 3, "file", "exported {done} files in {elapsed}") as steps:
        steps.started -= 20.0  # as if the first step had taken 20 s
        steps.done = 1
        steps.begin("exporting b.tflite")
    assert "[2/3] exporting b.tflite, about " in stream.getvalue() and " s left" in stream.getvalue()


def test_no_summary_after_an_error_and_the_bar_is_closed(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=stream, width=120, highlight=False, force_terminal=True,
                                                     force_interactive=True))
    with pytest.raises(KeyboardInterrupt), progress.StepsProgress("export", 3, "file", "exported {done}") as steps:
        steps.begin("exporting a.tflite")
        raise KeyboardInterrupt
    assert steps.bar.mode == progress.TERMINAL and "exported" not in stream.getvalue().replace("exporting", "")
    assert progress._state["open_bars"] == 0 and progress.console._live_stack == []


def test_a_bar_opened_inside_another_is_not_drawn(monkeypatch):
    monkeypatch.setattr(progress, "console", Console(file=io.StringIO(), force_terminal=True, force_interactive=True))
    outer = progress.Bar("train", 4)
    inner = progress.Bar("export", 2)
    assert (outer.mode, inner.mode) == (progress.TERMINAL, progress.LINES)
    inner.close()
    outer.close()
    outer.close()  # twice is fine (fit's finally after on_train_end)
    assert progress._state["open_bars"] == 0


def test_jupyter_without_ipywidgets_says_how_to_get_the_bar_once(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=stream, highlight=False, force_jupyter=True))
    monkeypatch.setattr(progress, "notebook_bars_installed", lambda: False)
    monkeypatch.setitem(progress._state, "hinted", False)
    monkeypatch.setattr("rich.jupyter.display", lambda segments, text: stream.write(text))
    assert progress.display_mode() == progress.LINES and progress.display_mode() == progress.LINES
    assert stream.getvalue().count("pip install 'edgecomp[notebook]'") == 1


def test_the_training_callback_draws_one_bar_over_all_epochs(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=stream, width=120, highlight=False, force_terminal=True,
                                                     force_interactive=True))
    callback = progress.keras_progress_callback(epochs=2, steps_per_epoch=3, label="train")
    callback.on_train_begin()
    for epoch in range(2):
        callback.on_epoch_begin(epoch)
        for batch in range(3):
            callback.on_train_batch_end(batch, {"loss": 0.5})
        callback.on_epoch_end(epoch, {"loss": 0.5, "val_accuracy": 0.8})
    assert progress.console._live_stack and callback.bar._bar.progress.tasks[0].completed == 6
    callback.on_train_end()
    callback.close()
    text = stream.getvalue()
    assert "train epoch 2/2: loss 0.5000, val_accuracy 0.8000" in text and "ETA" in text
    assert progress._state["open_bars"] == 0


def test_time_left_is_the_mean_step_times_the_steps_left():
    started = time.perf_counter() - 10.0  # two steps took 10 s
    assert remaining(started, 2, 4) == ", about 10 s left"
    assert remaining(time.perf_counter() - 100.0, 1, 3) == ", about 3 min 20 s left"


def test_no_estimate_before_the_first_step_after_the_last_or_under_a_second():
    now = time.perf_counter()
    assert remaining(now - 5.0, 0, 4) == ""
    assert remaining(now - 5.0, 4, 4) == ""
    assert remaining(now - 0.2, 1, 2) == ""


def test_durations_read_as_seconds_then_minutes():
    assert progress.duration_text(4.24) == "4.2 s"
    assert progress.duration_text(200) == "3 min 20 s"
