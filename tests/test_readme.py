"""The README's Python section runs as written: each ```python block in a fresh interpreter, in order,
in one empty folder (a later block may read what an earlier one wrote, as a reader would run them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_section_blocks() -> list[str]:
    text = README.read_text()
    section = text[text.index("\n## Python\n"):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_python_section_opens_with_a_five_line_example():
    first = python_section_blocks()[0]
    assert len([line for line in first.splitlines() if line.strip()]) <= 5
    assert "edgecomp.build(" in first


@pytest.mark.slow
def test_the_python_blocks_run_as_written(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(README.parent), os.environ.get("PYTHONPATH")])))
    outputs = []
    for index, block in enumerate(python_section_blocks()):
        script = tmp_path / f"block{index}.py"
        script.write_text(block)
        proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, f"block {index}:\n{block}\n{proc.stderr[-3000:]}"
        outputs.append(proc.stdout)
    printed = re.search(r"(model_\S+\.tflite) (\d+\.\d\d) % (\S+)$", outputs[0].strip())
    assert printed, outputs[0][-500:]
    assert Path(printed.group(3)).is_file() and tmp_path in Path(printed.group(3)).parents
    assert "model_int8.tflite" in outputs[1] and "model_float16.tflite" in outputs[1]
