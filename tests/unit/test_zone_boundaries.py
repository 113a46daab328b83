"""The bulkheads in the code: zones import only what their compartment allows."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Installs a finder that makes torch (and transformers, which pulls it in) unimportable.
_BLOCK_TORCH = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'transformers'}:
            raise ImportError(f'{name} is blocked: the serve zone must not import it')
sys.meta_path.insert(0, Block())
"""


@pytest.mark.parametrize(
    "module",
    [
        "serving",
        "serving.app",
        "serving.predictor",
        "registry",
        "registry.reader",
        "registry.admin",
        "ingestion.job",
    ],
)
def test_module_imports_without_torch(module: str) -> None:
    code = _BLOCK_TORCH + f"import {module}\nassert 'torch' not in sys.modules\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def _imported_roots(package: str) -> set[str]:
    roots: set[str] = set()
    for file in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("serving", {"torch", "transformers", "training", "ingestion", "bulkhead", "mlflow"}),
        ("training", {"serving", "bulkhead"}),
        ("ingestion", {"serving", "training", "torch", "bulkhead"}),
        ("registry", {"serving", "training", "ingestion", "torch", "bulkhead"}),
    ],
)
def test_zone_packages_do_not_reach_across(package: str, forbidden: set[str]) -> None:
    assert not (_imported_roots(package) & forbidden)
