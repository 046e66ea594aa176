"""Progress shown while training: a rich progress bar per run with ETA, and an epoch summary line."""

from __future__ import annotations

import time

from rich.console import Console

from edgecomp.core.tfenv import keras
from edgecomp.core.verbosity import USER_STDERR

# Progress goes to stderr so `--json` output on stdout stays machine-readable; to the real stderr
# also while `quiet_third_party` sends file descriptor 2 to a log (USER_STDERR follows it).
console = Console(file=USER_STDERR, highlight=False, width=None if USER_STDERR.isatty() else 160)

# Called as listener(label, epoch, logs) after every training epoch of every stage: `edgecomp search`
# reports each epoch's validation accuracy to its early-stopping scheduler through this.
EPOCH_LISTENERS: list = []


def keras_progress_callback(epochs: int, steps_per_epoch: int, label: str):
    """A Keras callback that drives one rich progress bar over all epochs and prints each epoch."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    class RichProgress(keras().callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=console, transient=True, disable=not console.is_terminal,
            )
            self.progress.start()
            self.task = self.progress.add_task(label, total=epochs * steps_per_epoch, status="")
            self.epoch_started = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            status = f"loss {logs.get('loss', float('nan')):.3f}" if logs else ""
            self.progress.update(self.task, advance=1, status=status)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            parts = [f"{key} {value:.4f}" for key, value in logs.items() if isinstance(value, (int, float))]
            seconds = time.perf_counter() - self.epoch_started
            console.print(f"  {label} epoch {epoch + 1}/{epochs}: {', '.join(parts)} ({seconds:.1f} s)")
            for listener in list(EPOCH_LISTENERS):
                listener(label, epoch, logs)

        def on_train_end(self, logs=None):
            self.progress.stop()

    return RichProgress()

def step(message: str) -> None:
    """One line of progress for a pipeline step."""
    console.print(f"[cyan]>[/cyan] {message}")
    console.file.flush()

def warn(warning) -> None:
    """A sanity-check warning (`edgecomp.core.records.RunWarning`), in yellow, when it is found."""
    from rich.markup import escape

    console.print(f"[yellow]! warning ({warning.code}): {escape(warning.message)}[/yellow]")
    console.print(f"[yellow]  hint: {escape(warning.hint)}[/yellow]")
    console.file.flush()

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
