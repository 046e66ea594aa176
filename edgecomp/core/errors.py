"""Typed errors. Each message says what was wrong, what was expected and what to do next.

The CLI turns any `EdgecompError` into one line on stderr and a non-zero exit code; anything
else is a bug and keeps its traceback (exit code 1), `InternalError` included.
"""


class EdgecompError(Exception):
    """Base class of every error a user can cause and fix."""

    exit_code = 1


class UsageError(EdgecompError):
    """A bad argument, name or setting (exit code 2, like a CLI usage error)."""

    exit_code = 2


class ConfigError(UsageError):
    """A plan or target profile that does not validate."""


class ModelNotMeaningfulError(UsageError):
    """A model whose numbers cannot mean anything (near chance, wrong input range, another class
    order): the build stops before compression with the hint (exit code 2; the report is written)."""

    stage_records: tuple = ()  # the finished stages' records, for the report written before the exit


class DatasetError(EdgecompError):
    """A dataset that cannot be found, read or does not fit the model."""


class ModelLoadError(EdgecompError):
    """A model file that is missing, corrupt or unsafe to load."""


class ExportError(EdgecompError):
    """An export that failed or does not match the Keras model."""


class BenchError(EdgecompError):
    """A build or benchmark in which one or more artifacts failed (exit code 1; the report is written)."""


class TargetError(EdgecompError):
    """A device that cannot be reached or used."""


class QualityGateError(EdgecompError):
    """A build or benchmark that missed a quality gate (exit code 3)."""

    exit_code = 3


class BudgetNotMetError(EdgecompError):
    """An `edgecomp search` in which no trial's artifact meets the budget (exit code 1; the report is written)."""


class DependencyError(EdgecompError):
    """An installed library whose private API edgecomp relies on is gone or changed (see *_internals.py)."""


class InternalError(RuntimeError):
    """An edgecomp invariant that did not hold: a bug, not a user mistake (exit 1, with traceback).

    Deliberately not an EdgecompError: the user cannot fix it by changing an argument, and the
    traceback is what a bug report needs.
    """


def first_line(err: BaseException, limit: int = 400) -> str:
    """The first line of a library's error message (TensorFlow's can run to pages), or its type."""
    text = str(err).strip()
    return text.splitlines()[0][:limit] if text else type(err).__name__
