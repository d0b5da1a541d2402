"""The layer order of DESIGN.md, enforced: every import of the package, read from the source.

    core < data < modeling < training < analysis < gui | cli < app

- No module imports a module of a higher layer, at module level or inside a function (a
  lazy import is still a dependency). Imports under ``if TYPE_CHECKING:`` are allowed upward
  explicitly: they never run, and annotations may name what a layer holds but does not build.
- ``gui`` and ``cli`` are siblings: neither imports the other; only ``app`` (and
  ``__main__``) sit above both.
- Nothing outside ``gui`` and ``app`` imports PySide6, shiboken6 or pyqtgraph.
- No cycle among module-level imports (a function-level import is how a late dependency is
  taken on purpose, and it does not run while the module loads).

The checker is an AST walk over every ``.py`` file under ``relattr_studio``; nothing is
imported, so it is fast and sees imports that only run in some branch.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "relattr_studio"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE

# Rank of each top-level part of the package; equal ranks are independent siblings.
LAYERS: dict[str, int] = {
    "": 0,  # the package itself (relattr_studio/__init__.py: the version)
    "resources": 0,  # assets read through importlib.resources
    "core": 0,
    "data": 1,
    "modeling": 2,
    "training": 3,
    "analysis": 4,
    "gui": 5,
    "cli": 5,
    "app": 6,
    "__main__": 6,
}
QT_PACKAGES = ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6")
QT_ALLOWED = ("gui", "app")

# Module-level cycles tolerated for now, each as the set of modules in it (none today).
ALLOWED_CYCLES: tuple[frozenset[str], ...] = ()


@dataclass(frozen=True)
class Import:
    """One import statement's target, as a module name of the package or an outside package."""

    source: str  # importing module
    target: str  # imported module (the deepest one that exists) or outside top-level name
    line: int
    module_level: bool  # runs when the importing module loads
    type_checking: bool  # under ``if TYPE_CHECKING:``


def module_name(path: Path, root: Path) -> str:
    """``relattr_studio.data.pairs`` for ``<root>/data/pairs.py`` (a package: its ``__init__``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([root.name, *parts])


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module a ``from ... import`` names (``from . import x`` -> the package)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def collect_imports(source: str, module: str, *, is_package: bool, modules: set[str]) -> list[Import]:
    """Every import in ``source`` (the text of ``module``), resolved to absolute names.

    ``from A import b`` counts as an import of ``A.b`` when that is a module in ``modules``,
    else of ``A``. Imports in functions are found too, marked ``module_level=False``.
    """
    found: list[Import] = []

    def add(target: str, node: ast.stmt, module_level: bool, type_checking: bool) -> None:
        found.append(Import(module, target, node.lineno, module_level, type_checking))

    def visit(node: ast.AST, module_level: bool, type_checking: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node, module_level, type_checking)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, module, is_package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                add(sub if sub in modules else base, node, module_level, type_checking)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, module_level, True)
            for child in node.orelse:
                visit(child, module_level, type_checking)
            return
        inner = module_level and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner, type_checking)

    visit(ast.parse(source), True, False)
    return found


def layer_of(module: str) -> str:
    """The top-level part of the package ``module`` belongs to (``""`` for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_violations(imports: list[Import]) -> list[str]:
    """Upward or sideways imports between layers, and Qt imported outside gui/app."""
    out = []
    for imp in imports:
        src = layer_of(imp.source)
        where = f"{imp.source}:{imp.line}"
        if src not in LAYERS:
            out.append(f"{where}: {imp.source} is in no layer; add '{src}' to LAYERS")
            continue
        top = imp.target.split(".")[0]
        if top in QT_PACKAGES and src not in QT_ALLOWED:
            out.append(f"{where}: imports {imp.target}: only gui/ and app may import Qt")
        if top != PACKAGE or imp.type_checking:
            continue
        dst = layer_of(imp.target)
        if dst not in LAYERS:
            out.append(f"{where}: imports {imp.target}, which is in no layer")
        elif src != dst and LAYERS[dst] >= LAYERS[src]:
            kind = "upward" if LAYERS[dst] > LAYERS[src] else "sideways"
            out.append(f"{where}: {kind} import of {imp.target} ({src or PACKAGE} -> {dst})")
    return list(dict.fromkeys(out))  # ``from m import a, b`` is one finding, not two


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:k]) for k in range(2, len(parts))]


def import_cycles(imports: list[Import], modules: set[str]) -> list[frozenset[str]]:
    """Strongly connected sets of two or more modules (or one importing itself) in the graph of
    module-level, run-time imports. Importing ``a.b.c`` runs package ``a.b`` first, so that
    counts as an edge too (unless ``a.b`` contains the importer: it is already loading)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports:
        if not imp.module_level or imp.type_checking or imp.target not in modules:
            continue
        own = set(_parents(imp.source)) | {imp.source}
        for dst in [*_parents(imp.target), imp.target]:
            if dst not in own or dst == imp.target:
                graph[imp.source].add(dst)
    # Tarjan's algorithm, iterative (a deep package would overflow the recursion limit).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                members = set()
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    members.add(m)
                    if m == node:
                        break
                if len(members) > 1 or node in graph[node]:
                    cycles.append(frozenset(members))
    return cycles


def check_tree(root: Path) -> list[str]:
    """Every violation in the package at ``root`` (a directory named like the package)."""
    files = sorted(root.rglob("*.py"))
    names = {module_name(p, root): p for p in files}
    imports: list[Import] = []
    for name, path in names.items():
        imports += collect_imports(path.read_text(encoding="utf-8"), name,
                                   is_package=path.name == "__init__.py", modules=set(names))
    problems = layer_violations(imports)
    for cycle in import_cycles(imports, set(names)):
        if cycle not in ALLOWED_CYCLES:
            problems.append("import cycle among module-level imports: " + " <-> ".join(sorted(cycle)))
    return problems


def test_the_package_keeps_its_layers():
    problems = check_tree(ROOT)
    assert not problems, "layer contract broken:\n" + "\n".join(problems)


def test_every_part_of_the_package_has_a_layer():
    parts = {p.name if p.is_dir() else p.stem for p in ROOT.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")}
    assert parts <= set(LAYERS), f"parts with no layer: {sorted(parts - set(LAYERS))}"


# --- the checker itself fails on what it must catch ---------------------------------------

def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / PACKAGE
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for d in [p for p in root.rglob("*") if p.is_dir()]:
        (d / "__init__.py").touch()
    return root


CLEAN = {
    "core/types.py": "import numpy\n",
    "data/pairs.py": "from relattr_studio.core import types\n",
    "training/job.py": "from ..data.pairs import x\nfrom relattr_studio.core.types import y\n",
    "analysis/metrics.py": "from relattr_studio.training import job\n",
    "gui/view.py": "from PySide6.QtWidgets import QWidget\nfrom relattr_studio.analysis import metrics\n",
    "cli/commands.py": "from relattr_studio.analysis.metrics import z\n",
    "app.py": "from relattr_studio.gui.view import V\nfrom PySide6.QtWidgets import QApplication\n",
}


def test_checker_passes_a_clean_package(tmp_path):
    assert check_tree(_package(tmp_path, CLEAN)) == []


@pytest.mark.parametrize("path, text, expected", [
    ("training/job.py", "from relattr_studio.analysis.metrics import accuracy\n",
     "relattr_studio.training.job:1: upward import of relattr_studio.analysis.metrics (training -> analysis)"),
    ("training/job.py", "def f():\n    from ..analysis import metrics\n",
     "relattr_studio.training.job:2: upward import of relattr_studio.analysis.metrics (training -> analysis)"),
    ("core/types.py", "import relattr_studio.data.pairs as p\n",
     "relattr_studio.core.types:1: upward import of relattr_studio.data.pairs (core -> data)"),
    ("cli/commands.py", "from relattr_studio.gui import view\n",
     "relattr_studio.cli.commands:1: sideways import of relattr_studio.gui.view (cli -> gui)"),
    ("analysis/metrics.py", "def f():\n    import pyqtgraph\n",
     "relattr_studio.analysis.metrics:2: imports pyqtgraph: only gui/ and app may import Qt"),
    ("cli/commands.py", "from PySide6 import QtCore\n",
     "relattr_studio.cli.commands:1: imports PySide6: only gui/ and app may import Qt"),
    ("extras/thing.py", "import os\n",
     "relattr_studio.extras.thing:1: relattr_studio.extras.thing is in no layer; add 'extras' to LAYERS"),
])
def test_checker_reports_a_violation(tmp_path, path, text, expected):
    problems = check_tree(_package(tmp_path, {**CLEAN, path: text + CLEAN.get(path, "")}))
    assert expected in problems


def test_checker_allows_type_checking_imports_upward(tmp_path):
    text = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from relattr_studio.data.pairs import P\n"
    assert check_tree(_package(tmp_path, {**CLEAN, "core/session.py": text})) == []


def test_checker_reports_module_level_cycles_only(tmp_path):
    files = {**CLEAN, "data/a.py": "from relattr_studio.data import b\n",
             "data/b.py": "from relattr_studio.data.a import thing\n"}
    assert check_tree(_package(tmp_path, files)) == [
        "import cycle among module-level imports: relattr_studio.data.a <-> relattr_studio.data.b"]
    files["data/b.py"] = "def late():\n    from relattr_studio.data.a import thing\n"
    assert check_tree(_package(tmp_path / "late", files)) == []


def test_checker_sees_a_cycle_through_a_package_init(tmp_path):
    files = {**CLEAN, "data/sub/__init__.py": "from relattr_studio.data.sub import x\n",
             "data/sub/x.py": "from relattr_studio.data import y\n",
             "data/y.py": "from relattr_studio.data.sub import x\n"}
    problems = check_tree(_package(tmp_path, files))
    assert len(problems) == 1 and "relattr_studio.data.sub.x <-> relattr_studio.data.y" in problems[0]


def test_the_label_store_and_its_export_form_no_cycle(tmp_path):
    """They did once (the store imported the export, the export the store): now a cycle of them fails."""
    store = "from relattr_studio.data import label_export\n"
    export = "from relattr_studio.data.label_store import LabelStore\n"
    files = {**CLEAN, "data/label_store.py": store, "data/label_export.py": export}
    assert any("cycle" in p for p in check_tree(_package(tmp_path, files)))
