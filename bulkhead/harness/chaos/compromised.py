"""``registry-compromised``: whoever controls the registry aims `champion` at what they want.

The registry's admin (the strongest registry identity: it may rewrite any artefact and any
tag) tries five ways, one after another, under load, to get a model served that the model
signer never passed:

1. rewrite a signed version's files (a consistent bundle: its own golden set and manifest)
   and keep its pin, then alias it champion;
2. the same, updating the pinned manifest digest too;
3. move the champion's own valid signature onto another version;
4. sign a version with a key of its own (a valid signature, by a key no policy trusts);
5. alias a version the signer never signed (the operator's forced promotion).

Each must be refused by the replicas, which say why in ``/v1/status``, while the old champion
answers every request: 0 failed, one version seen. The alias is put back after each.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bulkhead.harness.chaos.base import ChaosContext, ScenarioResult, scenario_result, skipped, wait
from bulkhead.harness.chaos.candidates import make_variant, register_variant
from bulkhead.harness.signing import as_registry_user, sign_registered
from contracts import signatures
from contracts.tags import CHAMPION, MANIFEST_DIGEST_TAG, SIGNATURE_TAG
from registry import bundle

# How long one replica may take to see an aimed alias and say why it refused it.
REFUSAL_LIMIT_S = 30.0


def _evil_bundle(model: str, champion: str, into: Path) -> Path:
    """The champion's bundle with its outputs swapped (every answer the wrong label), made
    whole again: its own golden set, its own manifest, so only the signature can tell."""
    import mlflow

    with contextlib.redirect_stdout(sys.stderr):
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{model}/{champion}", dst_path=str(into)
            )
        )
    make_variant(local, "flipped")
    return local


def registry_compromised(ctx: ChaosContext) -> ScenarioResult:
    from bulkhead.operations.models import registry_writer

    goal = "0 failed; only the old champion answers; each of 5 attacks refused and shown"
    platform = ctx.platform
    writer = registry_writer(platform)
    model = writer.model_name
    champion = writer.alias_version(CHAMPION)
    if champion is None:
        return skipped("registry compromised", "a rogue registry admin", goal, "no champion")
    experiment = platform.settings.experiment_name

    def copy(signed: bool = True) -> str:
        return register_variant(platform.paths, writer, champion, experiment, "copy", signed=signed)

    rewritten, repinned, borrower = copy(), copy(), copy()
    stranger, unsigned = copy(signed=False), copy(signed=False)
    sign_registered(platform.paths, model, stranger, key=signatures.new_private_key())
    refusals: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="chaos-compromised-") as scratch:
        evil = _evil_bundle(model, champion, Path(scratch))
        with as_registry_user(platform.paths, "admin") as admin:
            for version in (rewritten, repinned):
                run_id = admin.get_model_version(model, version).run_id
                admin.log_artifacts(run_id, str(evil), "bundle")
            admin.set_model_version_tag(
                model, repinned, MANIFEST_DIGEST_TAG, bundle.manifest_digest(evil)
            )
            stolen = admin.get_model_version(model, champion).tags[SIGNATURE_TAG]
            admin.set_model_version_tag(model, borrower, SIGNATURE_TAG, stolen)

            def aimed(
                version: str, attack: str, aim: Callable[[], object], back: Callable[[], object]
            ) -> None:
                """Aim `champion` at ``version``; wait until a replica says why it refused
                it; aim it back."""
                aim()

                def said() -> bool:
                    with ctx.client(timeout_s=5) as client:
                        status = client.status()
                    why = status.refused.get(version) or status.last_error or ""
                    if f"v{version}" in why:
                        refusals[attack] = why
                        return True
                    return False

                if wait(said, REFUSAL_LIMIT_S, every_s=0.5) is None:
                    refusals[attack] = "NOT REFUSED within the limit"
                back()
                time.sleep(1)

            def alias(version: str) -> Callable[[], object]:
                return lambda: admin.set_registered_model_alias(model, CHAMPION, version)

            restore = alias(champion)

            with ctx.load() as load:
                time.sleep(2)
                started = load.elapsed()
                aimed(rewritten, "files rewritten, pin kept", alias(rewritten), restore)
                aimed(repinned, "files and pin rewritten", alias(repinned), restore)
                aimed(borrower, "champion's signature moved", alias(borrower), restore)
                aimed(stranger, "signed by an untrusted key", alias(stranger), restore)
                aimed(
                    unsigned,
                    "unsigned, force-promoted",
                    lambda: writer.promote(unsigned, reason="chaos: unsigned", force=True),
                    lambda: writer.rollback(reason="chaos: unsigned, back"),
                )
                took = load.elapsed() - started
                time.sleep(2)
    counts = load.counts()
    refused = all("NOT REFUSED" not in why for why in refusals.values())
    passed = counts.failed == 0 and refused and set(counts.versions) == {champion}
    return scenario_result(
        "registry compromised",
        f"as the registry admin: v{rewritten} files rewritten, v{repinned} files + pin "
        f"rewritten, v{champion}'s signature on v{borrower}, v{stranger} signed by its own "
        f"key, v{unsigned} unsigned and forced",
        goal,
        counts,
        took,
        passed,
        "; ".join(f"{attack}: {why[:110]}" for attack, why in refusals.items())
        + f"; versions answering: {counts.versions}",
    )
