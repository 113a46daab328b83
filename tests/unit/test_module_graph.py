"""Dead modules show up, and a module's tests can be found.

Covers: tests/utils/module_graph.py
"""

from __future__ import annotations

from pathlib import Path

from tests.utils.module_graph import ROOT, covering_tests, imports_of, unused_modules


def test_every_product_module_is_imported_or_named_somewhere() -> None:
    """A module nothing imports, runs (`-m`, a script path) or names is dead code: delete it,
    or use it. `python -m tests.utils.module_graph unused` lists the same."""
    assert unused_modules() == []


def test_relative_and_nested_imports_are_read(tmp_path: Path) -> None:
    source = ROOT / "serving" / "zz_probe_for_test.py"
    try:
        source.write_text(
            "from . import peers\nfrom .http import errors as e\n"
            "def late():\n    import drop.reader\n"
        )
        found = imports_of(source)
    finally:
        source.unlink()
    assert {"serving.peers", "serving.http.errors", "drop.reader"} <= found


def test_a_modules_tests_are_those_that_import_it() -> None:
    found = {path.name for path in covering_tests("serving/core.py")}
    assert "test_api.py" in found
    assert found == {path.name for path in covering_tests("serving.core")}
