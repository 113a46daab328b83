"""``bulkhead signing keys|rotate|retire``: the model-signing keys, rotated without an outage.

A routine rotation is three steps, each one command, none of which stops a served version:
``rotate`` makes a new active key (the signer restarts with it, the serve zone trusts both),
the signer re-signs every version the old key signed (its files checked against the old
signature first), and ``retire`` takes the old key out of the serve zone's ring. Versions only
the retired key signed stop being served: only when the operator retires it, and ``retire``
names them first (refused unless ``--force``).

A key that may have leaked is another matter: carrying its signatures forward would carry an
attacker's forgeries with them. ``rotate --compromised`` retires the old key at once; the
signer then judges every version it signed again, as if unsigned (measured on its snapshot,
compared with the champion), and signs only what passes. Until it has, replicas stop serving
what only that key signed: seconds of 503 for a model, the price of a leaked key.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from bulkhead.operations.errors import BadInput, OperationFailed, Refused
from bulkhead.platform import handover, signing_keys
from bulkhead.platform.core import Platform
from bulkhead.platform.state import SIGNER
from contracts.signatures import key_hint
from contracts.tags import SIGNATURE_TAG


class SignedVersion(BaseModel):
    model: str
    version: str
    aliases: list[str] = Field(default_factory=list)


class Rotation(BaseModel):
    old_key: str
    new_key: str
    compromised: bool = Field(description="The old key was retired at once, nothing carried.")
    signer_restarted: bool
    steps: list[str] = Field(description="What the operator does next, in order.")


class Retirement(BaseModel):
    key: str
    still_signed: list[SignedVersion] = Field(
        description="Versions whose only signature is by this key: no longer served."
    )


def keys(platform: Platform) -> list[signing_keys.SigningKey]:
    return signing_keys.listing(platform.paths)


def _hand_over(platform: Platform) -> None:
    """The signer's key and both key rings, as `up` hands them over."""
    identities = platform.load_state().identities
    tls_files = None
    if platform.settings.tls:
        from bulkhead.platform import tls

        tls_files = tls.files(platform.paths)
    handover.hand_signer(platform.paths, identities, tls_files)
    handover.hand_trusted_keys(platform.paths, identities)


def rotate(platform: Platform, compromised: bool = False) -> Rotation:
    old, new = signing_keys.rotate(platform.paths)
    if compromised:
        signing_keys.retire(platform.paths, old)
    _hand_over(platform)
    restarted = platform.restart(SIGNER)
    if compromised:
        steps = [
            f"the signer signs with {new[:12]} from now on; {old[:12]} is retired: the serve "
            "zone trusts it no more (replicas re-read their key ring within a poll)",
            f"the signer judges every version {old[:12]} signed again, as if unsigned "
            "(measured on its snapshot), and signs what passes: `bulkhead models` shows each "
            "verdict; until then, replicas serve nothing that only the old key signed",
            "models whose trust policy names key ids (serve_config.yaml `trust.signers`): "
            f"replace {old[:12]} with {new[:12]}, then `bulkhead deploy`",
        ]
    else:
        steps = [
            f"the signer signs with {new[:12]} from now on; the serve zone trusts "
            f"{old[:12]} and {new[:12]} (replicas re-read their key ring within a poll)",
            f"the signer re-signs every version {old[:12]} signed: `bulkhead models` shows "
            f"`signed (key {new[:12]})` for each (a few seconds per version)",
            "models whose trust policy names key ids (serve_config.yaml `trust.signers`): "
            f"add {new[:12]}, then `bulkhead deploy`",
            f"then retire the old key: `bulkhead signing retire {old[:12]}` (it names any "
            "aliased version still signed only by it, which would stop being served)",
        ]
    return Rotation(
        old_key=old,
        new_key=new,
        compromised=compromised,
        signer_restarted=restarted,
        steps=steps,
    )


def signed_by(platform: Platform, key_id: str) -> list[SignedVersion]:
    """Every version of the configured models whose signature names ``key_id``, with the
    aliases that point at it. Fails closed: a registry that cannot answer is an error, never
    "nothing is signed by it"."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    platform.credentials("server").activate()
    client = MlflowClient()
    found = []
    for model in platform.settings.models:
        try:
            registered = client.get_registered_model(model)
        except MlflowException as err:
            if err.error_code == "RESOURCE_DOES_NOT_EXIST":  # not registered yet
                continue
            raise OperationFailed(f"the registry did not list {model}: {err.message}") from err
        except Exception as err:  # unreachable: no answer is no proof
            raise OperationFailed(f"the registry did not answer for {model}: {err}") from err
        found += signed_versions(client, model, key_id, dict(registered.aliases or {}))
    return found


def signed_versions(
    client: Any, model: str, key_id: str, aliases: dict[str, str]
) -> list[SignedVersion]:
    """``model``'s versions signed by ``key_id``. Aliases come from the registered model
    (``aliases``: alias -> version): MLflow's version search leaves them empty."""
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    found = []
    for mv in client.search_model_versions(f"name='{model}'"):
        signature = (mv.tags or {}).get(SIGNATURE_TAG)
        if signature is not None and key_hint(signature) == key_id:
            version = str(mv.version)
            found.append(
                SignedVersion(model=model, version=version, aliases=by_version.get(version, []))
            )
    return found


def retire(platform: Platform, prefix: str, force: bool) -> Retirement:
    try:
        key_id = signing_keys.match(platform.paths, prefix)
    except signing_keys.SigningKeyError as err:
        raise BadInput(f"signing retire: {err}") from err
    if key_id == signing_keys.ensure(platform.paths):
        raise Refused(f"key {key_id[:12]} is the active one: `bulkhead signing rotate` first")
    still = signed_by(platform, key_id)
    served = [v for v in still if v.aliases]
    if served and not force:
        names = ", ".join(f"{v.model} v{v.version} ({', '.join(v.aliases)})" for v in served)
        raise Refused(
            f"{len(served)} aliased version(s) are still signed only by {key_id[:12]}: {names}; "
            "they would stop being served. Wait for the signer to re-sign them (`bulkhead "
            "models`), or pass --force to stop serving them"
        )
    signing_keys.retire(platform.paths, key_id)
    _hand_over(platform)
    return Retirement(key=key_id, still_signed=still)
