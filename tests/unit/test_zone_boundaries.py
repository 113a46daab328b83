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
        (
            "serving",
            {"torch", "transformers", "training", "ingestion", "bulkhead", "mlflow", "drop"},
        ),
        ("training", {"serving", "bulkhead", "ingestion"}),
        ("ingestion", {"serving", "training", "torch", "bulkhead"}),
        ("registry", {"serving", "training", "ingestion", "torch", "bulkhead", "loadtests"}),
        ("contracts", {"serving", "training", "ingestion", "registry", "bulkhead", "loadtests"}),
        # The signer trusts nothing the train zone wrote: contracts and the registry client.
        (
            "signer",
            {"serving", "training", "ingestion", "bulkhead", "loadtests", "torch", "ray"},
        ),
        # The drop keeper trusts nothing of the zones it sits between: contracts only.
        (
            "drop",
            {"serving", "training", "ingestion", "registry", "bulkhead", "loadtests", "ray"},
        ),
    ],
)
def test_zone_packages_do_not_reach_across(package: str, forbidden: set[str]) -> None:
    assert not (_imported_roots(package) & forbidden)


def _imported_modules(package: str) -> dict[str, set[str]]:
    """Every absolute import of every module of ``package``: {file: {module, ...}}."""
    found: dict[str, set[str]] = {}
    for file in (ROOT / package).rglob("*.py"):
        modules = found.setdefault(str(file.relative_to(ROOT)), set())
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module)
                # `from serving import client` imports serving.client
                modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


# What the control plane (bulkhead/) may import of the project: the contracts, the registry
# client, each zone's schema module, the serve client, and the load generators.
CONTROL_PLANE_MAY_IMPORT = {
    "contracts",
    "registry",
    "loadtests",
    "ingestion.schema",
    "training.schema",
    "serving.client",
    "serving.schemas",
}
ZONES = ("ingestion", "training", "serving")


def _allowed_for_control_plane(module: str) -> bool:
    root = module.split(".")[0]
    if root not in ZONES:
        return True  # bulkhead itself, contracts, registry, loadtests, third parties
    return any(module == m or module.startswith(m + ".") for m in CONTROL_PLANE_MAY_IMPORT) or (
        module in ZONES  # `from serving import client` also lists `serving` itself
    )


def test_the_control_plane_imports_only_schemas_of_the_zones() -> None:
    wrong = {
        file: sorted(m for m in modules if not _allowed_for_control_plane(m))
        for file, modules in _imported_modules("bulkhead").items()
    }
    assert not {file: mods for file, mods in wrong.items() if mods}


def test_the_platform_runs_below_everything_else_in_the_control_plane() -> None:
    """bulkhead/platform (what runs: settings, processes, services, certificates, namespaces)
    imports no other part of bulkhead/; the audits in bulkhead/security, the operations, the
    harness and the CLI build on it. (platform and security once imported each other.)"""
    above = {
        file: sorted(
            m
            for m in modules
            if m.startswith("bulkhead.") and not m.startswith("bulkhead.platform")
        )
        for file, modules in _imported_modules("bulkhead/platform").items()
    }
    assert not {file: mods for file, mods in above.items() if mods}


def test_registry_imports_only_the_contracts_of_the_project() -> None:
    project = {"contracts", "registry", "serving", "training", "ingestion", "bulkhead", "loadtests"}
    assert _imported_roots("registry") & project <= {"contracts", "registry"}


def test_contracts_import_nothing_but_pydantic_and_the_standard_library() -> None:
    """And ``cryptography`` (a core dependency): the model signature's format and its check
    (contracts/signatures.py) are one contract between the signer and the serve zone."""
    third_party = _imported_roots("contracts") - set(sys.stdlib_module_names) - {"__future__"}
    assert third_party <= {"pydantic", "contracts", "cryptography"}


# A finder that makes every zone's heavy stack unimportable.
_BLOCK_ZONE_STACKS = """
import importlib.abc, sys
BLOCKED = {'pandas', 'pyarrow', 'torch', 'transformers', 'ray'}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError(f'{name} is blocked: the control plane must not import it')
sys.meta_path.insert(0, Block())
"""


def test_the_cli_imports_without_any_zone_stack() -> None:
    """Every command module loads with pandas, pyarrow, torch and Ray unimportable: the
    control plane talks to zones through jobs, the registry and HTTP only."""
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / "bulkhead").rglob("*.py")
        if path.name != "__main__.py"
    )
    code = _BLOCK_ZONE_STACKS + "".join(f"import {m}\n" for m in modules)
    code += "from bulkhead.cli import app\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]


def test_servings_domain_never_imports_its_http_layer() -> None:
    """The serving core, lifecycle, feedback, peers... know nothing of HTTP; only the two
    deployment modules (serving/app.py, serving/family.py) and their shared replica set-up
    (serving/replica.py) build an HTTP app around them."""
    roots = {"serving/app.py", "serving/family.py", "serving/replica.py"}
    upward = {
        file: sorted(m for m in modules if m.startswith("serving.http"))
        for file, modules in _imported_modules("serving").items()
        if not file.startswith("serving/http/") and file not in roots
    }
    assert not {file: mods for file, mods in upward.items() if mods}
