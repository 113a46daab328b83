"""Which product modules are used, and by which tests: read from the source, never imported.

Two questions a newcomer asks: "which tests cover this module?" and "is anything still
using it?". Both are answered statically (``ast`` over every product and test file, plus the
places that name a module as text: ``python -m drop.keeper``, ``serve_config.yaml``'s import
paths, the package scripts, a client script run by its file name).

    python -m tests.utils.module_graph covers serving/core.py    # the tests that import it
    python -m tests.utils.module_graph unused                    # modules nothing uses
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The product's top-level packages (pyproject.toml's packages.find).
PRODUCT = (
    "contracts",
    "drop",
    "bulkhead",
    "registry",
    "ingestion",
    "training",
    "serving",
    "loadtests",
)
# Text that may name a module to run (``-m x.y``, ``x.y:build``) or a script by its file.
TEXT_SUFFIXES = {".py", ".yaml", ".yml", ".toml", ".sh", ".md", ".cfg", ".json"}
TEXT_NAMES = frozenset({"Makefile", "Dockerfile"})
SKIPPED_DIRS = {".venv", ".git", "__pycache__", "build", "bulkhead.egg-info", ".bulkhead"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _files(top: Path, suffixes: set[str], names: frozenset[str] = frozenset()) -> list[Path]:
    found = []
    for path in top.rglob("*"):
        if any(part in SKIPPED_DIRS for part in path.relative_to(ROOT).parts):
            continue
        if path.is_file() and (path.suffix in suffixes or path.name in names):
            found.append(path)
    return sorted(found)


@cache
def product_modules() -> dict[str, Path]:
    return {
        module_name(path): path for package in PRODUCT for path in _files(ROOT / package, {".py"})
    }


@cache
def imports_of(path: Path) -> frozenset[str]:
    """Every module ``path`` imports (at any depth, inside functions too), with each
    ``from a.b import c`` counted as ``a.b`` and ``a.b.c`` (c may be a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(found)


def _with_parents(names: set[str]) -> set[str]:
    """Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` too."""
    return {".".join(name.split(".")[:i]) for name in names for i in range(1, name.count(".") + 2)}


@cache
def named_in_text() -> frozenset[str]:
    """Modules named as text anywhere in the repository: dotted names and script files."""
    modules = product_modules()
    packages = "|".join(PRODUCT)
    dotted = re.compile(rf"\b(?:{packages})(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
    by_file_name: dict[str, set[str]] = {}
    for name, path in modules.items():
        by_file_name.setdefault(path.name, set()).add(name)
    found: set[str] = set()
    for path in _files(ROOT, TEXT_SUFFIXES, TEXT_NAMES):
        text = path.read_text(errors="replace")
        own = module_name(path) if path.suffix == ".py" else None
        for match in dotted.findall(text):
            if match != own:
                found.add(match)
        for file_name, names in by_file_name.items():
            # A script run by its file name ("kserve_check.py" joined to a folder), or a
            # module a runner imports from its folder ("bentoml_service:Sentiment").
            stem = file_name.removesuffix(".py")
            named = f'"{file_name}"' in text or f'"{stem}:' in text
            if file_name != "__init__.py" and named:
                found.update(n for n in names if n != own)
    return frozenset(found)


def unused_modules() -> list[str]:
    """Product modules no other module or test imports and no file names."""
    modules = product_modules()
    used: set[str] = set()
    for name, path in modules.items():
        used |= {m for m in imports_of(path) if m != name}
    for path in _files(ROOT / "tests", {".py"}):
        used |= set(imports_of(path))
    used |= set(named_in_text())
    used = _with_parents(used)
    return sorted(name for name in modules if name not in used)


def covering_tests(target: str) -> list[Path]:
    """The test files that import ``target`` (a module name, or a file path)."""
    name = module_name((ROOT / target).resolve()) if target.endswith(".py") else target
    return [
        path
        for path in _files(ROOT / "tests", {".py"})
        if name in imports_of(path) or any(m.startswith(f"{name}.") for m in imports_of(path))
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    covers = commands.add_parser("covers", help="the test files that import a module")
    covers.add_argument("module", help="a module name (serving.core) or path (serving/core.py)")
    commands.add_parser("unused", help="product modules nothing imports or names")
    args = parser.parse_args(argv)
    if args.command == "covers":
        found = covering_tests(args.module)
        print("\n".join(str(p.relative_to(ROOT)) for p in found) or "no test imports it")
        return 0 if found else 1
    unused = unused_modules()
    print("\n".join(unused) or "every product module is used")
    return 1 if unused else 0


if __name__ == "__main__":
    sys.exit(main())
