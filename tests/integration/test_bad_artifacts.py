"""Bad artifacts aliased `champion`: serving refuses each, keeps the old model, counts the
failure in its metrics, and `bulkhead status` says why.

Each bad version is a real bundle (tiny model, exported as training exports it) registered by
the `trainer` user through the registry writer, approved, then broken one way, and signed as
if the signer had passed it: serving's own checks, not the signature, must refuse it (the
signature's attacks are tests/security/test_signed_serving.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from contracts.digest import sha256_file
from registry import bundle
from registry.writer import RegistryWriter
from tests.utils.bundles import make_bundle, register_bundle, trainer_writer
from tests.utils.platform import Served, TestPlatform
from tests.utils.signing import sign_as_signer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _resign(folder: Path, relative: str) -> None:
    """Update the manifest for a changed file: the digest passes, loading must not."""
    manifest = json.loads((folder / bundle.MANIFEST).read_text())
    manifest["files"][relative] = sha256_file(folder / relative)
    (folder / bundle.MANIFEST).write_text(json.dumps(manifest))


def _wrong_digest(folder: Path) -> None:
    (folder / bundle.LABELS).write_text('["rotten", "fresh"]')


def _missing_file(folder: Path) -> None:
    (folder / bundle.TOKENIZER_DIR / "tokenizer.json").unlink()


def _not_onnx(folder: Path) -> None:
    (folder / bundle.MODEL_FP32).write_bytes(b"this is not an ONNX model\n" * 100)
    _resign(folder, bundle.MODEL_FP32)


def _golden_fails(folder: Path) -> None:
    lines = (folder / bundle.GOLDEN).read_text().splitlines()
    examples = [json.loads(line) for line in lines if line.strip()]
    for example in examples:
        example["logits"] = [-value + 0.5 for value in example["logits"]]
    (folder / bundle.GOLDEN).write_text("\n".join(json.dumps(e) for e in examples) + "\n")
    _resign(folder, bundle.GOLDEN)


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "wrong digest": (_wrong_digest, "sha256"),
    "missing file": (_missing_file, "missing"),
    "not onnx": (_not_onnx, "onnx"),
    "golden self-check fails": (_golden_fails, "self-check"),
}


@pytest.fixture(scope="module")
def writer(platform: TestPlatform) -> Iterator[RegistryWriter]:
    with trainer_writer(platform) as writer:
        yield writer


def _register_broken(
    platform: TestPlatform, writer: RegistryWriter, folder: Path, corrupt: Callable[[Path], None]
) -> str:
    make_bundle(folder)
    corrupt(folder)
    version = register_bundle(writer, folder, "bad-artifact")
    sign_as_signer(platform, "sentiment", version)
    return version


def _load_refusals(platform: TestPlatform) -> float:
    """The serve zone's cumulative count of load refusals (summed over replicas). The
    platform is shared by the session, so each case asserts on the increase it causes."""
    port = platform.port_base + 2000 + 7  # the serve zone's metrics export port
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("ray_bulkhead_model_swap_failures")
        and 'reason="load"' in line
        and not line.startswith("#")
    )


@pytest.mark.parametrize("case", list(CASES))
def test_bad_artifact_is_refused_and_the_old_model_keeps_serving(
    platform: TestPlatform,
    served: Served,
    writer: RegistryWriter,
    tmp_path: Path,
    case: str,
) -> None:
    corrupt, reason_word = CASES[case]
    before = served.answering_version()
    refusals_before = _load_refusals(platform)
    version = _register_broken(platform, writer, tmp_path / "bundle", corrupt)
    promoted = platform.cli("promote", version, "--reason", f"bad artifact test: {case}")
    assert promoted.returncode == 0, promoted.stderr[-1500:]
    try:
        # 60 s: in one CI run (2026-12-03) a replica had not acted on this promotion after 30 s
        # (it did in every other run, and alone within a few seconds); under investigation.
        deadline = time.monotonic() + 60
        refused: dict[str, str] = {}
        while time.monotonic() < deadline and version not in refused:
            time.sleep(1)
            status = httpx.get(f"{served.url}/v1/status", headers=served.headers()).json()
            refused = status["refused"]
            assert served.answering_version() == before  # never a request on the bad version
        assert version in refused, f"v{version} never refused: {status}"
        assert reason_word in refused[version].lower(), refused[version]
        assert status["version"] == before
        ready = httpx.get(f"{served.url}/v2/health/ready").json()
        assert ready == {"ready": True, "model_version": before}
        shown = platform.cli_json("status")["serving"]
        assert version in shown["refused"] and shown["version"] == before
        deadline = time.monotonic() + 30
        refusals = _load_refusals(platform)
        while refusals <= refusals_before and time.monotonic() < deadline:
            time.sleep(2)
            refusals = _load_refusals(platform)
        print(f"\n{case}: v{version} refused: {refused[version]} ({refusals_before} -> {refusals})")
        assert refusals > refusals_before
        time.sleep(5)  # a few more polls: a refusal is final, never re-downloaded each poll
        assert _load_refusals(platform) == refusals
    finally:
        assert platform.cli("rollback", "--reason", f"undo {case}").returncode == 0
