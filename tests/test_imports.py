"""Imports run one way: lower layers never import higher ones, no cycle among edgecomp's modules,
and a plan parses without the stages.

The graph is read from the source (every `import` and `from ... import`, top-level or inside a
function, relative imports resolved), so an import hidden in a function to dodge a cycle at
start-up still counts. `from edgecomp.x import y` is an edge to the submodule `edgecomp.x.y`
when `y` is one, else to `edgecomp.x`; a package's `__init__` is a node like any module, and
every module has an edge to each package above it (Python runs `a/b/__init__.py` when `a.b.c` is
imported). The one exception is the root package `edgecomp`: its `__init__` is the public API's
front door, which imports the API on first attribute access (PEP 562), never at import time; a
test below checks that it imports nothing else of edgecomp at import time.
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


# The layers, lowest first: a module may import its own layer and the layers before it, never a later
# one. Within a layer, the cycle test keeps the order one-way.
LAYERS = (
    ("core",),  # errors, registry, settings base, tfenv, verbosity, progress, records
    ("data",),
    ("models",),
    ("plan",),  # the typed plan and every stage's settings: no TensorFlow
    ("measure",),  # the self-contained device runner and what is read from model files
    ("exporters",),
    ("compress",),
    ("targets",),
    ("reporting",),
    ("run",),  # the build: stages in order, stage cache, export and bench of every artifact
    ("budget_search",),
    ("api",),  # the public Python API (the root package's lazy attributes)
    ("cli",),
)
ROOT = "edgecomp"


def layer_of(module: str) -> int:
    """The index in LAYERS of `module`'s layer (the root package is the API's)."""
    top = module.split(".")[1] if "." in module else "api"
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module} is in no layer: add edgecomp/{top}/ to LAYERS in tests/test_imports.py")


def packages_above(module: str) -> set[str]:
    """The packages whose `__init__` Python runs before `module`, the root package left out."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(2, len(parts))}


def with_parent_packages(module: str, targets: set[str]) -> set[str]:
    """`targets` plus the packages above each of them and above `module` itself."""
    result = set(targets) | packages_above(module)
    for target in targets:
        result |= packages_above(target)
    result.discard(module)
    return result


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    graph = {module: imported_modules(module, path, set(files)) for module, path in files.items()}
    return {module: with_parent_packages(module, targets) for module, targets in graph.items()}


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
    assert "edgecomp.plan.plan" in graph and "edgecomp.compress.train" in graph
    assert "edgecomp.core.settings" in graph["edgecomp.plan.plan"]
    # the edge to the enclosing package: importing compress.distill.kd runs compress/distill/__init__.py
    assert {"edgecomp.compress", "edgecomp.compress.distill"} <= graph["edgecomp.compress.distill.kd"]


def test_parent_package_edges_make_an_init_cycle_visible(tmp_path):
    """A package `__init__` importing its own submodule, which imports a sibling, is a cycle once the edge
    to the enclosing package counts (a reader without it misses it)."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from pkg.sub import a\n")
    (package / "sub" / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("")
    known = {"pkg", "pkg.sub", "pkg.sub.a", "pkg.sub.b"}
    files = {"pkg.sub": package / "sub" / "__init__.py", "pkg.sub.a": package / "sub" / "a.py",
             "pkg.sub.b": package / "sub" / "b.py"}
    plain = {name: imported_modules(name, path, known) for name, path in files.items()}
    assert find_cycle(plain) is None
    assert find_cycle({name: with_parent_packages(name, targets) for name, targets in plain.items()}) is not None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
            for module, targets in sorted(graph.items()) for target in sorted(targets)
            if layer_of(target) > layer_of(module)]


def test_no_module_imports_a_higher_layer():
    assert upward_imports(import_graph()) == []


def test_the_layer_check_fails_on_an_upward_import():
    graph = {"edgecomp.plan.plan": {"edgecomp.compress.train"}, "edgecomp.compress.train": set()}
    assert upward_imports(graph) == ["edgecomp.plan.plan (plan) imports edgecomp.compress.train (compress)"]
    assert layer_of("edgecomp") > layer_of("edgecomp.run.pipeline") and layer_of("edgecomp.cli.main") > layer_of("edgecomp")


def test_the_root_package_imports_nothing_of_edgecomp_at_import_time():
    """Every module's import runs edgecomp/__init__.py, so at module level it may only name the version;
    the API is loaded on first attribute access (PEP 562)."""
    tree = ast.parse((PACKAGE_DIR / "__init__.py").read_text())
    named = {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    named |= {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    assert {name for name in named if name and name.startswith("edgecomp")} <= {"edgecomp.core.version"}


def test_no_import_cycle_among_edgecomp_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _modules_loaded_by(statement: str) -> list[str]:
    code = f"{statement}; import json, sys; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_reading_a_plan_loads_no_stage_and_no_tensorflow():
    """`import edgecomp.plan.plan` (and parsing a plan) validates every stage's settings without
    importing a stage implementation, the compress package or TensorFlow."""
    loaded = _modules_loaded_by("import edgecomp.plan.plan as c; c.parse_plan({})")
    stage_modules = [name for name in loaded if name.startswith(("edgecomp.compress", "edgecomp.compress.context"))]
    assert stage_modules == []
    assert not [name for name in loaded if name.split(".")[0] in {"tensorflow", "tf_keras", "keras"}]
    assert "edgecomp.plan.stage_settings" in loaded  # the settings it did validate with
