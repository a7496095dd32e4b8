"""The layer order of the package: no module imports from a higher layer, nothing imports
the CLI, and no two modules import each other (directly or around a cycle).

Every ``import`` and ``from ... import`` of every module under ``src/regionreasoner`` is
read with :mod:`ast`, at module level and inside functions (a function-level import is
still a dependency: it only runs later), together with the lazy targets of
``Registry.register_lazy(name, "module:attr")`` and ``importlib.import_module("...")``.
Imports under ``if TYPE_CHECKING:`` (never run) and lazy registry targets (a package
registering its own implementations by name, resolved on first use) count for the layer
order but not for cycles.

The layers, lowest first (a package may import from its own layer and those below):

0. ``regionreasoner`` (the package ``__init__``), ``errors``, ``_imports``, ``registry``,
   ``fileio``, ``assets``, ``provenance``: the foundation, standard library (+ numpy) only;
1. ``geometry``;
2. ``parsing``, ``data``;
3. ``rewards``, ``evaluation``;
4. ``backends``, ``segmenters``;
5. ``dialogue``;
6. ``micro``: the offline tiny and micro Qwen2.5-VL (uses the prompts of ``dialogue``);
7. ``integrations``, ``serve``: training and reward adapters (``model.tiny`` of TRL
   training builds the tiny model), and the interactive web page;
8. ``cli`` and ``__main__``: argument parsing and printing only.

One exception, by design: the package ``__init__`` re-exports the public entry points of
higher layers (``regionreasoner.evaluate``) through ``_LAZY_EXPORTS``, imported on first
attribute access (PEP 562), never at ``import regionreasoner``. Those edges are read here
as ``lazy-export`` edges: they must name existing modules that define the names, and
they are exempt from the layer order (``tests/test_imports.py`` checks that importing
the package stays light).

Layers 1-5 and 8 are section 2 of the design ("geometry -> parsing, data -> rewards,
evaluation -> backends, segmenters -> dialogue -> integrations, cli"); the other
packages are placed here explicitly, and a new package must be placed before this test
passes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "regionreasoner"

LAYERS: tuple[tuple[str, ...], ...] = (
    (PACKAGE, "errors", "_imports", "registry", "fileio", "assets", "provenance"),
    ("geometry",),
    ("parsing", "data"),
    ("rewards", "evaluation"),
    ("backends", "segmenters"),
    ("dialogue",),
    ("micro",),
    ("integrations", "serve"),
    ("cli", "__main__"),
)
LAYER_OF = {name: level for level, names in enumerate(LAYERS) for name in names}

CLI_REENTRY_ALLOWED: set[str] = set()
"""Commands allowed to call ``cli.main`` with another command's argv (none)."""


@dataclass(frozen=True, slots=True)
class Import:
    """One dependency of ``module`` on ``target`` (a module of the package)."""

    module: str
    target: str
    line: int
    kind: str = "import"
    """``import`` (module or function level), ``type-only``, ``lazy`` or ``lazy-export``."""

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def module_files(src: Path) -> dict[str, Path]:
    """``{dotted module name: file}`` of every module of the package under ``src``."""
    out = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return inside


def _lazy_target(node: ast.Call) -> str | None:
    """The module of ``X.register_lazy(name, "mod:attr")`` or ``import_module("mod")``."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    index = {"register_lazy": 1, "import_module": 0}.get(name or "")
    if index is None or len(node.args) <= index:
        return None
    arg = node.args[index]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value.split(":", 1)[0]
    return None


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The package module ``name`` refers to (``a.b.attr`` -> ``a.b``), or None."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """Every dependency of ``module`` on another module of the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    type_only = _type_checking_nodes(tree)
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = module.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - node.level + 1]
                names = [".".join([*base, node.module] if node.module else base)]
            elif node.module:
                # `from pkg import sub` depends on pkg.sub when that is a module
                names = [
                    f"{node.module}.{a.name}"
                    if f"{node.module}.{a.name}" in modules
                    else node.module
                    for a in node.names
                ]
        elif isinstance(node, ast.Call):
            lazy = _lazy_target(node)
            names = [lazy] if lazy else []
        kind = "lazy" if isinstance(node, ast.Call) else "import"
        if id(node) in type_only:
            kind = "type-only"
        for name in names:
            target = _resolve(name, modules)
            if target is not None and target != module:
                yield Import(module, target, node.lineno, kind)


def lazy_exports(src: Path) -> dict[str, str]:
    """``_LAZY_EXPORTS`` of the package ``__init__`` (``{}`` when it has none)."""
    tree = ast.parse((src / PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "_LAZY_EXPORTS" for t in targets):
            return ast.literal_eval(node.value)  # type: ignore[arg-type]
    return {}


def all_imports(src: Path) -> list[Import]:
    modules = module_files(src)
    found = [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]
    exports = {_resolve(target, modules) or target for target in lazy_exports(src).values()}
    found += [Import(PACKAGE, target, 0, "lazy-export") for target in sorted(exports)]
    return found


def part_of(module: str) -> str:
    """The top-level part of the package a module belongs to (``geometry``, ``cli``...)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else PACKAGE


def layer_violations(imports: list[Import]) -> list[str]:
    out = []
    for imp in imports:
        if imp.kind == "lazy-export" and imp.module == PACKAGE:
            continue  # the package's public re-exports, loaded on first access
        source, target = part_of(imp.module), part_of(imp.target)
        if LAYER_OF[target] > LAYER_OF[source]:
            out.append(f"{imp} (layer {LAYER_OF[source]} {source} -> {LAYER_OF[target]} {target})")
    return out


def import_cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected components of more than one module (``import`` edges only)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if imp.kind == "import":
            graph.setdefault(imp.module, set()).add(imp.target)
            graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return all_imports(SRC)


def test_every_package_has_a_layer():
    parts = {part_of(name) for name in module_files(SRC)}
    assert parts - set(LAYER_OF) == set(), "place the new package in LAYERS (docstring too)"
    assert set(LAYER_OF) - parts == set(), "LAYERS names a package that no longer exists"


def test_no_module_imports_from_a_higher_layer(imports):
    assert layer_violations(imports) == []


def test_no_module_outside_the_cli_imports_the_cli(imports):
    offenders = [
        str(imp)
        for imp in imports
        if part_of(imp.target) in ("cli", "__main__")
        and part_of(imp.module) not in ("cli", "__main__")
    ]
    assert offenders == []


def test_cli_commands_do_not_reenter_the_cli(imports):
    """A command calls the library, not ``cli.main`` with another command's argv."""
    reentries = {
        imp.module
        for imp in imports
        if imp.module.startswith(f"{PACKAGE}.cli.commands.") and imp.target == f"{PACKAGE}.cli.main"
    }
    assert reentries <= CLI_REENTRY_ALLOWED, sorted(reentries - CLI_REENTRY_ALLOWED)
    assert reentries >= CLI_REENTRY_ALLOWED, "no longer re-enters: drop it from the allow-list"


def test_the_lazy_exports_name_modules_that_define_them():
    import importlib

    import regionreasoner

    modules = module_files(SRC)
    exports = lazy_exports(SRC)
    assert exports, "the package re-exports its evaluation entry point"
    for name, module in exports.items():
        assert module in modules, module
        assert getattr(regionreasoner, name) is getattr(importlib.import_module(module), name)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = regionreasoner.no_such_name


def test_no_import_cycles(imports):
    assert import_cycles(imports) == []


def test_the_checks_find_what_they_look_for(tmp_path):
    """On a small fake package: an upward import (inside a function), a cycle through a
    function-level import, a lazy registry target, a relative import."""
    root = tmp_path / PACKAGE
    files = {
        "__init__.py": "",
        "geometry/__init__.py": "",
        "geometry/boxes.py": "def f():\n    from regionreasoner.dialogue import runner\n",
        "data/__init__.py": "",
        "data/schema.py": "def g():\n    from regionreasoner.data.validation import check\n",
        "data/validation.py": "from .schema import g\n",
        "dialogue/__init__.py": "",
        "dialogue/runner.py": "R.register_lazy('x', 'regionreasoner.cli.main:main')\n",
        "cli/__init__.py": "",
        "cli/main.py": "",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    found = all_imports(tmp_path)
    assert {(i.module, i.target) for i in found} == {
        ("regionreasoner.geometry.boxes", "regionreasoner.dialogue.runner"),
        ("regionreasoner.data.schema", "regionreasoner.data.validation"),
        ("regionreasoner.data.validation", "regionreasoner.data.schema"),
        ("regionreasoner.dialogue.runner", "regionreasoner.cli.main"),
    }
    assert sorted(v.split(" (")[0] for v in layer_violations(found)) == [
        "regionreasoner.dialogue.runner:1 imports regionreasoner.cli.main",
        "regionreasoner.geometry.boxes:2 imports regionreasoner.dialogue.runner",
    ]
    assert import_cycles(found) == [
        ["regionreasoner.data.schema", "regionreasoner.data.validation"]
    ]
