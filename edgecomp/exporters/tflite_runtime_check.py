"""Does each `.tflite` load in tflite-runtime 2.14, the runtime many Raspberry Pi images carry?

Each file is loaded in that runtime's own Python (`.venv-tflite-runtime`, made by
`scripts/make-tflite-runtime-env.sh`) by a tiny script that allocates tensors and invokes once.
A failure names the op and version the old runtime lacks, taken from its error message
(e.g. "Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'").
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Optional

ENV_DIR_NAME = ".venv-tflite-runtime"
REPO_ROOT = Path(__file__).resolve().parents[2]

# Runs under tflite-runtime's Python (numpy<2): only the standard library, numpy and tflite_runtime.
_CHECK_SCRIPT = r"""
import json, sys
import numpy as np
from tflite_runtime.interpreter import Interpreter
import tflite_runtime
result = {"version": tflite_runtime.__version__}
try:
    interpreter = Interpreter(model_path=sys.argv[1], num_threads=1)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    interpreter.invoke()
    result.update(ok=True, error=None)
except Exception as err:
    result.update(ok=False, error=str(err))
print(json.dumps(result))
"""

_OP_ERROR = re.compile(r"Didn't find op for builtin opcode '([A-Z0-9_]+)' version '(\d+)'")


def runtime_python(env_dir: Optional[Path] = None) -> Optional[Path]:
    """The tflite-runtime env's python, or None when the env does not exist.

    Looks at `env_dir`, else $EDGECOMP_TFLITE_RUNTIME_ENV, else `.venv-tflite-runtime` at the repo root.
    """
    folder = Path(env_dir or os.environ.get("EDGECOMP_TFLITE_RUNTIME_ENV") or REPO_ROOT / ENV_DIR_NAME)
    python = folder / "bin" / "python"
    return python if python.exists() else None


def summarize_error(message: str) -> str:
    """The line that names the missing op and version, else the first line of the error."""
    match = _OP_ERROR.search(message)
    if match:
        return f"Didn't find op for builtin opcode '{match.group(1)}' version '{match.group(2)}'"
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else "unknown error"


def check_tflite_runtime(path: Path, python: Path, timeout_s: float = 120) -> dict:
    """Loads `path` in tflite-runtime and invokes it once.

    Returns:
        {ok, error, runtime_version, missing_op: {op, version} or None}.
    """
    try:
        proc = subprocess.run([str(python), "-c", _CHECK_SCRIPT, str(path)], capture_output=True,
                              text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"tflite-runtime check did not finish within {timeout_s:.0f} s",
                "runtime_version": None, "missing_op": None}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        # A crash in native code (abort, segfault) leaves no JSON line: report its stderr.
        return {"ok": False, "error": f"exit code {proc.returncode}: {summarize_error(proc.stderr or proc.stdout)}",
                "runtime_version": None, "missing_op": None}
    result = json.loads(lines[-1])
    error = result.get("error")
    match = _OP_ERROR.search(error or "")
    return {"ok": bool(result["ok"]), "error": summarize_error(error) if error else None,
            "runtime_version": result.get("version"),
            "missing_op": {"op": match.group(1), "version": int(match.group(2))} if match else None}


def check_artifacts(paths: list[Path], env_dir: Optional[Path] = None) -> dict[str, dict]:
    """Per `.tflite` path: its check result, or a skip note when the env is missing."""
    python = runtime_python(env_dir)
    results = {}
    for path in paths:
        if Path(path).suffix != ".tflite":
            continue
        if python is None:
            results[str(path)] = {"ok": None, "skipped": True,
                                  "error": f"{ENV_DIR_NAME} not found; run scripts/make-tflite-runtime-env.sh"}
        else:
            results[str(path)] = check_tflite_runtime(Path(path), python)
    return results
