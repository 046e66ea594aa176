"""Imports run one way: no cycle among edgecomp's modules, and a plan parses without the stages.

The graph is read from the source (every `import` and `from ... import`, top-level or inside a
function, relative imports resolved), so an import hidden in a function to dodge a cycle at
start-up still counts. `from edgecomp.x import y` is an edge to the submodule `edgecomp.x.y`
when `y` is one, else to `edgecomp.x`; a package's `__init__` is a node like any module.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import edgecomp

PACKAGE_DIR = Path(edgecomp.__file__).parent


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the edgecomp package."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module a `from X import ...` statement names, with a relative X resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(module: str, path: Path, known: set[str]) -> set[str]:
    """The edgecomp modules that `module` imports anywhere in its source."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, path.name == "__init__.py")
            names = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                     for alias in node.names]
        else:
            continue
        for name in names:
            # `import edgecomp.a.b` and `import edgecomp.a.b.c as x` name the deepest known module.
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
    return targets


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {module: imported_modules(module, path, set(files)) for module, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search with colours)."""
    colour = dict.fromkeys(graph, "white")
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = "grey"
        stack.append(node)
        for target in sorted(graph[node]):
            if colour[target] == "grey":
                return stack[stack.index(target):] + [target]
            if colour[target] == "white":
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        colour[node] = "black"
        return None

    for start in sorted(graph):
        if colour[start] == "white":
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_graph_reader_sees_function_level_and_relative_imports(tmp_path):
    """The reader itself: a function-level import and a relative import are both edges."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (package / "sub" / "__init__.py").write_text("from . import b\n")
    (package / "sub" / "b.py").write_text("from ..a import f\n")
    known = {"pkg", "pkg.a", "pkg.sub", "pkg.sub.b"}
    assert imported_modules("pkg.a", package / "a.py", known) == {"pkg.sub.b"}
    assert imported_modules("pkg.sub", package / "sub" / "__init__.py", known) == {"pkg.sub.b"}
    assert imported_modules("pkg.sub.b", package / "sub" / "b.py", known) == {"pkg.a"}
    graph = {name: imported_modules(name, path, known) for name, path in [
        ("pkg", package / "__init__.py"), ("pkg.a", package / "a.py"),
        ("pkg.sub", package / "sub" / "__init__.py"), ("pkg.sub.b", package / "sub" / "b.py")]}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.a"]


def test_the_graph_covers_the_package():
    graph = import_graph()
    assert "edgecomp.config" in graph and "edgecomp.compress.train" in graph
    assert "edgecomp.settings" in graph["edgecomp.config"]


def test_no_import_cycle_among_edgecomp_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _modules_loaded_by(statement: str) -> list[str]:
    code = f"{statement}; import json, sys; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_reading_a_plan_loads_no_stage_and_no_tensorflow():
    """`import edgecomp.config` (and parsing a plan) validates every stage's settings without
    importing a stage implementation, the compress package or TensorFlow."""
    loaded = _modules_loaded_by("import edgecomp.config as c; c.parse_plan({})")
    stage_modules = [name for name in loaded if name.startswith(("edgecomp.compress", "edgecomp.stages"))]
    assert stage_modules == []
    assert not [name for name in loaded if name.split(".")[0] in {"tensorflow", "tf_keras", "keras"}]
    assert "edgecomp.stage_settings" in loaded  # the settings it did validate with
