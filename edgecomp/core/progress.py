"""Progress shown while edgecomp works: a bar with the time left (ETA) over training, exporting and
benchmarking, one line per step, and nothing animated where nobody watches.

Where the bar goes is read from the console (`display_mode`): a rich bar in a terminal, a widget bar
(tqdm.notebook, which needs ipywidgets: the `notebook` extra) in Jupyter, and no bar in a CI log or
captured output, where each step's line carries the time left and a loop ends with one summary line.
"""

from __future__ import annotations

import time
from datetime import timedelta
from importlib.util import find_spec
from typing import Optional

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from edgecomp.core.tfenv import keras
from edgecomp.core.verbosity import USER_STDERR

# Progress goes to stderr so `--json` output on stdout stays machine-readable; to the real stderr
# also while `quiet_third_party` sends file descriptor 2 to a log (USER_STDERR follows it).
console = Console(file=USER_STDERR, highlight=False, width=None if USER_STDERR.isatty() else 160)

# Called as listener(label, epoch, logs) after every training epoch of every stage: `edgecomp search`
# reports each epoch's validation accuracy to its early-stopping scheduler through this.
EPOCH_LISTENERS: list = []

TERMINAL, NOTEBOOK, LINES = "terminal", "notebook", "lines"  # see display_mode
NOTEBOOK_HINT = ("progress bars in Jupyter need ipywidgets: pip install 'edgecomp[notebook]' "
                 "(until then each step is a line)")
_state = {"open_bars": 0, "hinted": False}


def notebook_bars_installed() -> bool:
    """tqdm and ipywidgets, which draw the bar in a Jupyter notebook, are importable."""
    return find_spec("tqdm") is not None and find_spec("ipywidgets") is not None

def display_mode() -> str:
    """How progress is shown on edgecomp's console, read when a bar opens.

    Returns:
        "terminal": a rich bar (an interactive terminal: not TERM=dumb, not TTY_INTERACTIVE=0);
        "notebook": a tqdm.notebook widget (a Jupyter kernel with ipywidgets installed);
        "lines": no bar and no escape code (a CI log, a pipe, a captured subprocess; Jupyter without
        ipywidgets), each step a line with the time left.
    """
    if console.is_jupyter:
        if notebook_bars_installed():
            return NOTEBOOK
        if not _state["hinted"]:
            _state["hinted"] = True
            step(escape(NOTEBOOK_HINT))  # [notebook] is not markup
        return LINES
    # is_interactive is read when the console is made; is_terminal now (stderr may have been replaced since)
    return TERMINAL if console.is_interactive and console.is_terminal else LINES


class _MeanTimeRemaining(ProgressColumn):
    """The time left at the mean pace since the bar opened. A loop of a few slow steps (an export can
    take a minute) has an estimate from its first step on; rich's own column needs two steps within
    its last 30 s."""

    def render(self, task) -> Text:
        if not task.completed or not task.total or task.elapsed is None:
            return Text("-:--:--", style="progress.remaining")
        left = task.elapsed / task.completed * max(0.0, task.total - task.completed)
        return Text(str(timedelta(seconds=round(left))), style="progress.remaining")


class _RichBar:
    """A rich bar on edgecomp's console; gone when closed (the step lines and the summary stay).

    stdout and stderr are not redirected through it: third-party prints keep going to the log that
    `quiet_third_party` writes, not above the bar."""

    def __init__(self, label: str, total: int, unit: str):
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TextColumn("ETA"), _MeanTimeRemaining(),
            console=console, transient=True, redirect_stdout=False, redirect_stderr=False)
        self.progress.start()
        self.task = self.progress.add_task(label, total=total, status="")

    def update(self, advance: int = 0, status: Optional[str] = None) -> None:
        fields = {} if status is None else {"status": status}
        self.progress.update(self.task, advance=advance, **fields)

    def close(self) -> None:
        self.progress.stop()


class _NotebookBar:
    """A tqdm.notebook widget (ipywidgets): elapsed<ETA and the current step beside the bar; it stays in
    the cell when done (red when the loop stopped early)."""

    def __init__(self, label: str, total: int, unit: str):
        from tqdm.notebook import tqdm

        self.bar = tqdm(total=total, desc=label, unit=unit, leave=True, smoothing=0)  # mean pace, as in a terminal

    def update(self, advance: int = 0, status: Optional[str] = None) -> None:
        if status is not None:
            self.bar.set_postfix_str(status, refresh=not advance)
        if advance:
            self.bar.update(advance)  # redraws at most every 0.1 s

    def close(self) -> None:
        self.bar.close()


class _NoBar:
    def update(self, advance: int = 0, status: Optional[str] = None) -> None:
        pass

    def close(self) -> None:
        pass


class Bar:
    """One progress bar drawn as `display_mode()` says; a bar opened while another is open is not drawn
    (one live display at a time). `close()` may be called more than once."""

    def __init__(self, label: str, total: int, unit: str = "it"):
        self.mode = display_mode() if _state["open_bars"] == 0 else LINES
        backend = {TERMINAL: _RichBar, NOTEBOOK: _NotebookBar}.get(self.mode)
        self._bar = backend(label, total, unit) if backend else _NoBar()
        self._open = backend is not None
        _state["open_bars"] += self._open

    @property
    def drawn(self) -> bool:
        """A bar is on screen (so a step's line need not repeat the time left)."""
        return self.mode != LINES

    def update(self, advance: int = 0, status: Optional[str] = None) -> None:
        self._bar.update(advance, status)

    def close(self) -> None:
        if self._open:
            self._open = False
            _state["open_bars"] -= 1
            self._bar.close()


class StepsProgress:
    """A loop of similar steps (files to export, artifacts to benchmark): a bar with the time left, a
    line per step ("[2/5] exporting model_int8.tflite"; with no bar drawn, ", about 40 s left" at its
    end) and, after more than one step, a summary line.

    Args:
        label: what the bar says ("export", "benchmark on host").
        total: the number of steps.
        unit: one step's noun for the notebook bar's rate ("file").
        summary: the closing line, formatted with {done}, {total} and {elapsed} ("exported {done} of
            {total} files in {elapsed}"); not shown after an error.

    Examples:
        >>> with StepsProgress("export", 2, "file", "exported {done} files in {elapsed}") as steps:
        ...     for name in ["a.tflite", "b.tflite"]:
        ...         steps.begin(f"exporting {name}", status=name)
        ...         steps.advance()
    """

    def __init__(self, label: str, total: int, unit: str, summary: str):
        self.label, self.total, self.unit, self.summary = label, total, unit, summary
        self.done = 0

    def __enter__(self) -> "StepsProgress":
        self.started = time.perf_counter()
        self.bar = Bar(self.label, self.total, self.unit)
        return self

    def begin(self, text: str, status: str = "") -> None:
        """The line of the next step ("[2/5] {text}") and its name beside the bar."""
        eta = "" if self.bar.drawn else remaining(self.started, self.done, self.total)
        step(f"[{self.done + 1}/{self.total}] {text}{eta}")
        self.bar.update(status=status)

    def advance(self) -> None:
        self.done += 1
        self.bar.update(advance=1)

    def __exit__(self, error_type, error, traceback) -> None:
        self.bar.close()
        if error_type is None and self.total > 1:
            elapsed = duration_text(time.perf_counter() - self.started)
            step(self.summary.format(done=self.done, total=self.total, elapsed=elapsed))


def keras_progress_callback(epochs: int, steps_per_epoch: int, label: str):
    """A Keras callback that drives one bar over all epochs (`Bar`) and prints each epoch's line.

    Keras calls no callback when fit raises: call its `close()` in a `finally` (fitting.fit_compiled does).
    """

    class EpochProgress(keras().callbacks.Callback):
        bar = None

        def on_train_begin(self, logs=None):
            self.bar = Bar(label, epochs * steps_per_epoch, unit="step")
            self.epoch_started = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            status = f"loss {logs.get('loss', float('nan')):.3f}" if logs else ""
            self.bar.update(advance=1, status=status)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            parts = [f"{key} {value:.4f}" for key, value in logs.items() if isinstance(value, (int, float))]
            seconds = time.perf_counter() - self.epoch_started
            console.print(f"  {label} epoch {epoch + 1}/{epochs}: {', '.join(parts)} ({seconds:.1f} s)")
            for listener in list(EPOCH_LISTENERS):
                listener(label, epoch, logs)

        def on_train_end(self, logs=None):
            self.close()

        def close(self):
            if self.bar is not None:
                self.bar.close()

    return EpochProgress()

def step(message: str) -> None:
    """One line of progress for a pipeline step."""
    console.print(f"[cyan]>[/cyan] {message}")
    console.file.flush()

def warn(warning) -> None:
    """A sanity-check warning (`edgecomp.core.records.RunWarning`), in yellow, when it is found."""
    console.print(f"[yellow]! warning ({warning.code}): {escape(warning.message)}[/yellow]")
    console.print(f"[yellow]  hint: {escape(warning.hint)}[/yellow]")
    console.file.flush()

def duration_text(seconds: float) -> str:
    """"4.2 s" under a minute, "3 min 20 s" from one."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, whole = divmod(round(seconds), 60)
    return f"{minutes} min {whole:02d} s"

def remaining(started: float, done: int, total: int) -> str:
    """", about 40 s left" for a loop of similar steps (files to export, artifacts to benchmark): the
    mean time of the `done` steps since `started` (time.perf_counter()) times the steps left; "" before
    the first step has finished, when there is no step left, or when it is under a second."""
    if done <= 0 or done >= total:
        return ""
    left = (time.perf_counter() - started) / done * (total - done)
    if left < 1:
        return ""
    minutes, seconds = divmod(round(left), 60)
    return f", about {minutes} min {seconds:02d} s left" if minutes else f", about {seconds} s left"
