"""Which versions a key signed, with the aliases that serve them (Covers:
bulkhead/operations/signing.py): what `signing retire` refuses on. MLflow's version search
leaves aliases empty (its SQL store), so they come from the registered model."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bulkhead.operations.signing import signed_versions
from contracts import signatures
from contracts.tags import SIGNATURE_TAG


class Client:
    def __init__(self, tags: dict[str, dict[str, str]]) -> None:
        self.tags = tags

    def search_model_versions(self, query: str) -> list[Any]:
        # As MLflow's SQL store answers: no aliases on the versions it lists.
        return [SimpleNamespace(version=v, tags=t, aliases=[]) for v, t in self.tags.items()]


def _signature(tmp_path: Path, key: signatures.ec.EllipticCurvePrivateKey, version: str) -> str:
    folder = tmp_path / f"v{version}"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"weights")
    binding = signatures.Binding(
        model="m",
        version=version,
        manifest_sha256="0" * 64,
        snapshot_digest="s",
        training_run_id="r",
    )
    return signatures.sign(folder, binding, key)


def test_aliased_versions_signed_by_a_key_are_named_with_their_aliases(tmp_path: Path) -> None:
    old, new = signatures.new_private_key(), signatures.new_private_key()
    client = Client(
        {
            "1": {SIGNATURE_TAG: _signature(tmp_path, old, "1")},
            "2": {SIGNATURE_TAG: _signature(tmp_path, new, "2")},
            "3": {SIGNATURE_TAG: _signature(tmp_path, old, "3")},
            "4": {},
        }
    )
    found = signed_versions(
        client, "m", signatures.key_id(old.public_key()), {"champion": "3", "challenger": "2"}
    )
    assert [(v.version, v.aliases) for v in found] == [("1", []), ("3", ["champion"])]
