"""Imports point down: no cycles, no upward imports, no import hidden in a string.

A small AST walk over ``plog_ci/``: every ``import`` and ``from ... import``,
at the top of a module or inside a function, is an edge from the importing
module to the module it names. Imports under ``if TYPE_CHECKING:`` run only
for the type checker: they cannot form a cycle at run time, but they must
still point down (a type is a dependency too).

``LAYERS`` lists the layers top to bottom; a module may import the modules of
its own layer (unless that closes a cycle) and of the layers below. A module
belongs to the layer of the longest prefix that matches its dotted name; a
new module that no prefix matches fails the test until it is placed.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "plog_ci"

# Top to bottom. "plog_ci" itself (the package's __init__: the version) matches
# only itself; every other entry matches the module and everything under it.
LAYERS: list[tuple[str, list[str]]] = [
    (
        "entry points",
        [
            "plog_ci.__main__",
            "plog_ci.cli",
            "plog_ci.commands",
            "plog_ci.demo",
            "plog_ci.demo_podman",
        ],
    ),
    (
        "services",
        [
            "plog_ci.worker",
            "plog_ci.job_runner",
            "plog_ci.web",
            "plog_ci.githooks",
            "plog_ci.hook_install",
        ],
    ),
    ("pipeline", ["plog_ci.pipeline"]),
    ("orchestration", ["plog_ci.ab", "plog_ci.report", "plog_ci.plan"]),
    # The engines, in the order their imports allow: analysis reads stored runs,
    # histograms and resource samples; the runner runs what loadgen writes;
    # loadgen reads the spec and the config.
    ("analysis", ["plog_ci.analysis"]),
    (
        "execution",
        [
            "plog_ci.runner",
            "plog_ci.deploy",
            "plog_ci.build",
            "plog_ci.store",
            "plog_ci.forge",
            "plog_ci.reaper",
        ],
    ),
    ("load generation", ["plog_ci.loadgen"]),
    ("spec and config", ["plog_ci.openapi", "plog_ci.config", "plog_ci.gate_grammar"]),
    (
        "foundation",
        [
            "plog_ci",
            "plog_ci.errors",
            "plog_ci.proc",
            "plog_ci.redaction",
            "plog_ci.home",
            "plog_ci.results",
            "plog_ci.series",
            "plog_ci.yamldoc",
            "plog_ci.templating",
            "plog_ci.gitrepo",
            "plog_ci.queue",
            "plog_ci.jobs",
            "plog_ci.progress",
            "plog_ci.dashboard_link",
        ],
    ),
]


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported module (a package means its __init__)
    where: str  # path:line of the import
    type_only: bool  # under `if TYPE_CHECKING:`


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for path in sorted((ROOT / PACKAGE).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


@cache
def _trees() -> dict[str, ast.Module]:
    return {
        name: ast.parse(path.read_text(encoding="utf-8"), str(path))
        for name, path in _modules().items()
    }


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _type_only_nodes(tree: ast.Module) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` bodies."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.body:
                out.update(id(n) for n in ast.walk(stmt))
    return out


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    modules = _modules()
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] == PACKAGE:
                yield alias.name
        return
    base = node.module or ""
    if node.level:  # relative: from the importing module's package
        is_package = modules[module].name == "__init__.py"
        package = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    if base.split(".")[0] != PACKAGE:
        return
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        yield sub if sub in modules else base  # `from pkg import module` names the module


@cache
def _edges() -> list[Edge]:
    edges: list[Edge] = []
    for module, tree in _trees().items():
        type_only = _type_only_nodes(tree)
        rel = _modules()[module].relative_to(ROOT)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _targets(module, node):
                edge = Edge(module, target, f"{rel}:{node.lineno}", id(node) in type_only)
                if target != module and edge not in edges:
                    edges.append(edge)
    return edges


def _layer_of(module: str) -> tuple[int, str] | None:
    """(index, layer name) of the longest matching prefix, None when none matches."""
    best: tuple[int, int, str] | None = None
    for index, (name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or (prefix != PACKAGE and module.startswith(prefix + "."))
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index, name)
    return None if best is None else (best[1], best[2])


def _fail(problems: list[str], advice: str) -> None:
    if problems:
        pytest.fail(f"{len(problems)} problem(s); {advice}\n" + "\n".join(problems), False)


def test_every_module_is_in_a_layer() -> None:
    problems = [
        f"{path.relative_to(ROOT)}: {name} is in no layer: add it (or a prefix of it) "
        "to LAYERS in tests/test_layers.py"
        for name, path in _modules().items()
        if _layer_of(name) is None
    ]
    names = _modules()
    problems += [
        f"LAYERS names {prefix!r}, which matches no module: remove it from tests/test_layers.py"
        for _, prefixes in LAYERS
        for prefix in prefixes
        if not any(m == prefix or m.startswith(prefix + ".") for m in names)
    ]
    _fail(problems, "each module of plog_ci/ belongs to exactly one layer")


def test_imports_name_existing_modules() -> None:
    modules = _modules()
    problems = [
        f"{e.where}: {e.source} imports {e.target}, which is no module of plog_ci/"
        for e in _edges()
        if e.target not in modules
    ]
    _fail(problems, "import what exists")


def test_imports_point_down() -> None:
    problems = []
    for e in _edges():
        source, target = _layer_of(e.source), _layer_of(e.target)
        if source is None or target is None:
            continue  # reported by the two tests above
        if target[0] < source[0]:
            problems.append(
                f"{e.where}: {e.source} ({source[1]}) imports {e.target} ({target[1]}), "
                "a layer above it"
            )
    _fail(problems, "move the code down, or pass what it needs in from above")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def _loop(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One shortest path from the component's first module back to itself."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph.get(node, set()) & members):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return [*component, start]  # not reached: a component is strongly connected


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for e in _edges():
        if not e.type_only:
            graph.setdefault(e.source, set()).add(e.target)
            where.setdefault((e.source, e.target), e.where)
    problems = []
    for component in _cycles(graph):
        loop = _loop(graph, component)
        steps = ", ".join(where[(a, b)] for a, b in itertools.pairwise(loop))
        problems.append(f"import cycle: {' -> '.join(loop)} ({steps})")
    _fail(problems, "break each cycle by moving the shared code into a module both import")


def test_no_import_hidden_in_a_string() -> None:
    problems = []
    for module, tree in _trees().items():
        rel = _modules()[module].relative_to(ROOT)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and arg.value.split(".")[0] == PACKAGE
            ):
                problems.append(
                    f"{rel}:{node.lineno}: {module} imports {arg.value} through {name}(): "
                    "write an import statement (inside the function if start-up time matters)"
                )
    _fail(problems, "imports are statements, so this test and the reader see them")
