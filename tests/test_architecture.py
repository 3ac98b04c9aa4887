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


# -- derived data lives on the catalog ----------------------------------------------------

#: Modules that may keep module-level tables of objects, each with its reason.
_OBJECT_TABLES_ALLOWED = {
    # The one store of a catalog's derived data (owned by the catalog), and the weak set
    # of live stores that clear_*_cache(None) reaches.
    "skfusion/catalog/_derived.py",
    # Resident torch tensors keyed by the identity of NumPy arrays (weakref.ref).
    "skfusion/fusion/_backends.py",
    # The process-wide model cache, keyed by model, device and precision.
    "skfusion/encoders/_cache.py",
}
_WEAK_TABLES = ("WeakKeyDictionary", "WeakValueDictionary", "WeakSet")
_CACHE_DECORATORS = ("cache", "lru_cache", "cached_property")


def _catalog_caches(source: str) -> list[str]:
    """What in a module looks like a module-level cache keyed by catalogs.

    Any use of :mod:`weakref` (a weak table is how a cache keyed by objects is kept);
    a module-level variable whose annotation keys a mapping by ``Catalog``; a
    module-level variable indexed, or looked up with ``get``/``setdefault``/``pop``,
    by an expression naming a catalog (``_CACHE[catalog]``, ``_BY_ID.get(id(cat))``);
    a memoised function (``functools.cache``/``lru_cache``) taking a catalog.
    """
    import ast

    tree = ast.parse(source)
    found: list[str] = []
    module_names: set[str] = set()
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        for target in targets:
            if isinstance(target, ast.Name):
                module_names.add(target.id)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            ann = node.annotation
            if isinstance(ann, ast.Subscript):
                first = ann.slice.elts[0] if isinstance(ann.slice, ast.Tuple) else ann.slice
                if "Catalog" in ast.unparse(first):
                    found.append(f"{node.target.id}: {ast.unparse(ann)}")

    def names_catalog(expr: ast.AST) -> bool:
        names = [
            n.id if isinstance(n, ast.Name) else n.arg
            for n in ast.walk(expr)
            if isinstance(n, ast.Name | ast.arg)
        ]
        return any(name == "cat" or "catalog" in name.lower() for name in names)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for alias in node.names:
                if "weakref" in (module or alias.name):
                    found.append("weakref import")
        elif isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in _WEAK_TABLES:
                found.append(name)
        if isinstance(node, ast.Subscript):
            table = node.value
            if (
                isinstance(table, ast.Name)
                and table.id in module_names
                and names_catalog(node.slice)
            ):
                found.append(ast.unparse(node))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            table = node.func.value
            if (
                isinstance(table, ast.Name)
                and table.id in module_names
                and node.func.attr in ("get", "setdefault", "pop")
                and node.args
                and names_catalog(node.args[0])
            ):
                found.append(ast.unparse(node))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            decorators = [d.func if isinstance(d, ast.Call) else d for d in node.decorator_list]
            memoised = any(ast.unparse(d).split(".")[-1] in _CACHE_DECORATORS for d in decorators)
            if memoised and names_catalog(node.args):
                found.append(f"memoised {node.name}()")
    return found


def test_catalog_cache_finder_finds_the_old_caches() -> None:
    old = (
        "import weakref\n"
        "import functools\n"
        "_CACHE: weakref.WeakKeyDictionary[Catalog, Any] = weakref.WeakKeyDictionary()\n"
        "_TABLE: dict[Catalog, Any] = {}\n"
        "_BY_ID: dict[int, Any] = {}\n"
        "def fused_for(catalog, w):\n"
        "    cache = _CACHE.get(catalog)\n"
        "    _BY_ID[id(catalog)] = cache\n"
        "    return cache\n"
        "@functools.lru_cache(maxsize=4)\n"
        "def covariances(catalog):\n"
        "    return catalog.covariances()\n"
        "def fine(catalog, key):\n"
        "    seen = {}\n"
        "    seen[catalog] = _TABLE_OF_NAMES[key]\n"  # a local dict; a lookup by key
        "    return catalog._derived().get_or_build('fusion.fused', dict)\n"
    )
    assert sorted(_catalog_caches(old)) == sorted(
        [
            "_CACHE: weakref.WeakKeyDictionary[Catalog, Any]",
            "_TABLE: dict[Catalog, Any]",
            "weakref import",
            "WeakKeyDictionary",
            "WeakKeyDictionary",
            "_CACHE.get(catalog)",
            "_BY_ID[id(catalog)]",
            "memoised covariances()",
        ]
    )


def test_derived_data_is_cached_on_the_catalog_only() -> None:
    # The consolidation issue: statistics are computed and cached on the catalog only
    # (skfusion/catalog/_derived.py), never in module-level tables keyed by catalogs.
    offenders = []
    for file in sorted((ROOT / "skfusion").rglob("*.py")):
        rel = file.relative_to(ROOT).as_posix()
        if rel in _OBJECT_TABLES_ALLOWED:
            continue
        offenders += [f"{rel}: {what}" for what in _catalog_caches(file.read_text("utf-8"))]
    assert offenders == []
    # The allowed store still is what this test assumes.
    derived = (ROOT / "skfusion/catalog/_derived.py").read_text(encoding="utf-8")
    assert "class DerivedStore" in derived
    assert "def get_or_build(" in derived
