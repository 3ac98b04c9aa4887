"""The module graph: no import cycles, and the layers of docs/architecture.md."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")

ROOT = Path(__file__).resolve().parents[1]


def _cycles(edges: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, []))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": []}
    assert _cycles(edges) == [["a", "b", "c"]]
    assert _cycles({"a": ["b"], "b": []}) == []


def test_no_import_cycles() -> None:
    # Every import counts, including those inside functions (a lazy import hides a cycle
    # from Python, not from the design); imports made only for type checking do not. A
    # module importing its own parent package (``from ..catalog import Catalog`` inside
    # skfusion.catalog) is not a cycle of modules.
    graph = grimp.build_graph("skfusion", exclude_type_checking_imports=True)
    edges = {
        module: [
            imported
            for imported in graph.find_modules_directly_imported_by(module)
            if not module.startswith(imported + ".")
        ]
        for module in sorted(graph.modules)
    }
    assert _cycles(edges) == []


def test_layers_contract_holds() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("import-linter is not installed")
    done = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# -- one scan engine ----------------------------------------------------------------------

#: The engine's private block iterators: no other module may call them.
_BLOCK_ITERATORS = ("_numpy_blocks", "_torch_blocks", "iter_similarity_blocks")
#: The one module that walks the catalog's items in blocks.
_ENGINE = "skfusion/fusion/_engine.py"
#: Modules that may not walk the catalog themselves (they hand a reducer to the engine).
_SCANNED = ("skfusion/fusion", "skfusion/catalog/_index.py")
#: Hand-written catalog loops allowed outside the engine, each with its reason.
_ALLOWED_LOOPS = {
    # Recall calibration of the ANN index at build time: the catalog layer sits below
    # skfusion.fusion (docs/architecture.md), so it cannot call the fusion engine.
    ("skfusion/catalog/_index.py", "exact_lists"),
}


def _block_loops(source: str) -> list[tuple[str, str]]:
    """``(function, name)`` of each engine iterator call and stepped ``range`` over ``n_items``.

    A stepped ``range(start, stop, step)`` whose ``stop`` mentions ``n_items``
    is a hand-written loop over blocks of the catalog's items.
    """
    import ast

    found: list[tuple[str, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = function or child.name
            if isinstance(child, ast.Call):
                callee = child.func
                called = (
                    callee.id
                    if isinstance(callee, ast.Name)
                    else callee.attr
                    if isinstance(callee, ast.Attribute)
                    else ""
                )
                if called in _BLOCK_ITERATORS:
                    found.append((function, called))
                stepped = called == "range" and len(child.args) == 3
                if stepped and "n_items" in ast.unparse(child.args[1]):
                    found.append((function, "range"))
            if isinstance(child, ast.ImportFrom):
                for alias in child.names:
                    if alias.name in _BLOCK_ITERATORS:
                        found.append((function, alias.name))
            visit(child, name)

    visit(ast.parse(source), "")
    return found


def test_block_loop_finder_finds_loops() -> None:
    old = (
        "from ._engine import iter_similarity_blocks\n"
        "def covariances(catalog):\n"
        "    for start in range(0, catalog.n_items, _BLOCK):\n"
        "        pass\n"
        "def stats(queries, mats):\n"
        "    for s, e, S in _engine._numpy_blocks(queries, mats, 0, n, size):\n"
        "        pass\n"
        "def queries_only(n_queries):\n"
        "    return [range(0, n_queries, 8), range(len(x))]\n"
    )
    assert _block_loops(old) == [
        ("", "iter_similarity_blocks"),
        ("covariances", "range"),
        ("stats", "_numpy_blocks"),
    ]


def test_only_the_engine_walks_catalog_blocks() -> None:
    # Issue 14: exact, approximate, tuning-cache, statistics and CV scoring all hand a
    # reducer to skfusion.fusion._engine.scan; no other module loops over item blocks.
    offenders = []
    for scope in _SCANNED:
        path = ROOT / scope
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            rel = file.relative_to(ROOT).as_posix()
            if rel == _ENGINE:
                continue
            for function, name in _block_loops(file.read_text(encoding="utf-8")):
                if (rel, function) not in _ALLOWED_LOOPS:
                    offenders.append(f"{rel}:{function or '<module>'} uses {name}")
    assert offenders == []
    # The engine itself still defines the iterators this test looks for.
    engine = (ROOT / _ENGINE).read_text(encoding="utf-8")
    assert "def _numpy_blocks(" in engine
    assert "def _torch_blocks(" in engine
