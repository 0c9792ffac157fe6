"""Count the places where trio_h2 reads private names it does not own.

Two counts, printed with every place:

* **cross-module**: ``obj._name`` (or ``from .mod import _name``) in one module of the
  package where ``_name`` is not assigned (``self._name = ...``, a method or a class
  attribute) in that same module.  Each is a module reading another module's
  private state: the design keeps that at zero.
* **library**: private names of h2, hpack, hyperframe, h11 or trio-websocket that the
  package uses (read, written or overridden), from any object, ``self`` included.

Usage: ``python scripts/private_names.py [package_dir]`` (default ``trio_h2``).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

LIBRARIES = ("h2", "hpack", "hyperframe", "h11", "trio_websocket")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _library_private_names() -> set[str]:
    """Every private attribute or method name defined anywhere in the libraries."""
    names: set[str] = set()
    for library in LIBRARIES:
        module = __import__(library)
        for path in Path(module.__file__ or "").parent.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    if _is_private(node.name):
                        names.add(node.name)
                elif isinstance(node, ast.Attribute) and _is_private(node.attr):
                    names.add(node.attr)
    return names


def _own_names(tree: ast.AST) -> set[str]:
    """Private names a module defines itself."""
    own: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            own.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            own.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            own.add(node.target.id)
        elif isinstance(node, ast.arg):
            own.add(node.arg)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.Expr | ast.Pass):
                    continue
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    # A declared attribute (``_h2: X``) is owned only if assigned here too.
                    own.discard(item.target.id) if item.value is None else None
    return {name for name in own if _is_private(name)}


def _library_classes(tree: ast.AST) -> set[str]:
    """Names in this module bound to classes of the libraries (by import)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in LIBRARIES:
                bound.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES:
                    bound.add((alias.asname or alias.name).split(".")[0])
    return bound


def _subclasses_library(node: ast.ClassDef, library_bound: set[str], local: set[str]) -> bool:
    for base in node.bases:
        root = base
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and (root.id in library_bound or root.id in local):
            return True
    return False


def _uses(tree: ast.Module) -> Iterator[tuple[int, str, bool, bool]]:
    """(line, name, through self, inside a library subclass) for each private use."""
    library_bound = _library_classes(tree)
    # Classes of this package that subclass a library class count as one too.
    local: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and _subclasses_library(node, library_bound, local):
            local.add(node.name)
    stdlib_modules = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.split(".")[0] not in LIBRARIES
    }
    in_subclass: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name in local:
            for inner in ast.walk(node):
                in_subclass.add(id(inner))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            base = node.value
            if isinstance(base, ast.Name) and base.id in stdlib_modules:
                continue  # os._exit and the like: the standard library's own API
            through_self = isinstance(base, ast.Name) and base.id in ("self", "cls")
            yield node.lineno, node.attr, through_self, id(node) in in_subclass
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            for alias in node.names:
                # A private module of the package is imported, not its private state.
                if _is_private(alias.name) and not node.module:
                    continue
                if _is_private(alias.name):
                    yield node.lineno, alias.name, False, False


def main(argv: list[str]) -> int:
    package = Path(argv[1] if len(argv) > 1 else "trio_h2")
    library_names = _library_private_names()
    cross: list[str] = []
    library: list[str] = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        own = _own_names(tree)
        for line, name, through_self, in_subclass in _uses(tree):
            where = f"{path}:{line}: {name}"
            if name in library_names and (name not in own or in_subclass):
                library.append(where)
            elif not through_self and name not in own:
                cross.append(where)
    print(f"cross-module private names: {len(cross)}")
    for where in cross:
        print("  " + where)
    print(f"h2/hpack/hyperframe/h11/trio_websocket private names used: {len(library)}")
    for where in library:
        print("  " + where)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
