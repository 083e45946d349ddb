"""The shape of the package: no import cycles, a pure ML layer, short run() methods.

`python tests/test_architecture.py` prints the import graph's size, its cycles (none) and the
longest run() methods.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pipeline"
MAX_RUN_LINES = 12


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imported_names(path: Path) -> list[str]:
    """Every module named by an import anywhere in the file (inside functions too)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def import_graph() -> dict[str, set[str]]:
    """module -> the pipeline modules it imports (a package's own parents are not edges)."""
    known = modules()
    graph = {}
    for name, path in known.items():
        edges = set()
        for imported in imported_names(path):
            while imported and imported not in known:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                edges.add(imported)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def run_lengths() -> dict[str, int]:
    """Lines of each task's run() body (without its docstring)."""
    lengths = {}
    for path in (PACKAGE / "tasks").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "run":
                        body = item.body[1:] if ast.get_docstring(item) else item.body
                        lengths[f"{node.name}.run"] = body[-1].end_lineno - body[0].lineno + 1
    return lengths


def test_the_import_graph_has_no_cycle():
    assert cycles(import_graph()) == []


def test_the_ml_layer_imports_neither_luigi_nor_the_rest_of_the_pipeline():
    for name, path in modules().items():
        if name.startswith("pipeline.ml"):
            outside = [n for n in imported_names(path) if n.split(".")[0] == "luigi"
                       or (n.startswith("pipeline.") and not n.startswith("pipeline.ml"))]
            assert outside == [], f"{name} imports {outside}"


def test_every_task_run_is_short():
    lengths = run_lengths()
    assert len(lengths) >= 10
    assert {name: n for name, n in lengths.items() if n > MAX_RUN_LINES} == {}


if __name__ == "__main__":
    graph = import_graph()
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} import edges; cycles: {cycles(graph) or 'none'}")
    for name, lines in sorted(run_lengths().items(), key=lambda item: -item[1])[:5]:
        print(f"{lines:4d} lines  {name}")
