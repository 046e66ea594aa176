"""Progress of a running search: one line per event with trials done / running / stopped early / failed
and the best trial so far that meets the budget (through `edgecomp.core.progress.step`)."""

from __future__ import annotations

from ray.tune import Callback

from edgecomp.core.progress import step


def describe_best(result: dict) -> str:
    size = result.get("size_kb")
    latency = result.get("latency_p50_ms")
    parts = [f"{100 * result['accuracy']:.2f} %"]
    if size is not None:
        parts.append(f"{size:.1f} kB")
    if latency is not None:
        parts.append(f"p50 {latency:.3g} ms")
    return ", ".join(parts)


class SearchProgress(Callback):
    """A Ray Tune callback (runs in the driver) that prints the search's state as trials move."""

    def __init__(self, total: int):
        self.total = total
        self.finished: dict[str, dict] = {}  # trial id -> its final result
        self.stopped: set[str] = set()
        self.failed: set[str] = set()
        self.running: set[str] = set()
        self.best: dict | None = None
        self.seeded = False

    def _line(self, event: str) -> None:
        best = (f"best so far {describe_best(self.best)} (trial {self.best['trial_id']})" if self.best
                else "none meets the budget yet")
        done = sum(1 for r in self.finished.values() if r.get("status") == "done")
        step(f"search: {event}; {done} done, {len(self.running)} running, {len(self.stopped)} stopped early, "
             f"{len(self.failed)} failed of {self.total}; {best}")

    def on_step_begin(self, iteration, trials, **info):
        if not self.seeded:  # a resumed search: count the trials that finished before
            self.seeded = True
            for trial in trials:
                result = trial.last_result or {}
                if trial.status == "TERMINATED" and result.get("finished"):
                    self.on_trial_result(iteration, trials, trial, result)
                elif trial.status == "TERMINATED":
                    self.stopped.add(trial.trial_id)

    def on_trial_start(self, iteration, trials, trial, **info):
        self.running.add(trial.trial_id)
        self._line(f"trial {trial.trial_id} started")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if not result.get("finished"):
            return
        self.finished[trial.trial_id] = result
        if result.get("status") == "failed":
            self.failed.add(trial.trial_id)
        elif result.get("meets_budget") and (self.best is None or result["score"] > self.best["score"]):
            self.best = {**result, "trial_id": trial.trial_id}

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.running.discard(trial.trial_id)
        if trial.trial_id not in self.finished:
            self.stopped.add(trial.trial_id)
            self._line(f"trial {trial.trial_id} stopped early (ASHA)")
            return
        result = self.finished[trial.trial_id]
        if result.get("status") == "failed":
            self._line(f"trial {trial.trial_id} failed: {str(result.get('error'))[:120]}")
        else:
            verdict = "meets the budget" if result.get("meets_budget") else "misses the budget"
            self._line(f"trial {trial.trial_id} done: {describe_best(result)}, {verdict}")

    def on_trial_error(self, iteration, trials, trial, **info):
        self.running.discard(trial.trial_id)
        self.failed.add(trial.trial_id)
        self._line(f"trial {trial.trial_id} crashed (its error is in the search report)")
