"""``bulkhead signing keys|rotate|retire``: the model-signing keys, rotated without an outage.

A rotation is three steps, each one command, none of which stops a served version:
``rotate`` makes a new active key (the signer restarts with it, the serve zone trusts both),
the signer re-signs every version the old key signed (its files checked against the old
signature first), and ``retire`` takes the old key out of the serve zone's ring. Versions only
the retired key signed stop being served: only when the operator retires it, and ``retire``
names them first (refused unless ``--force``).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from bulkhead.operations.errors import BadInput, Refused
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


def rotate(platform: Platform) -> Rotation:
    old, new = signing_keys.rotate(platform.paths)
    _hand_over(platform)
    restarted = platform.restart(SIGNER)
    return Rotation(
        old_key=old,
        new_key=new,
        signer_restarted=restarted,
        steps=[
            f"the signer signs with {new[:12]} from now on; the serve zone trusts "
            f"{old[:12]} and {new[:12]} (replicas re-read their key ring within a poll)",
            f"the signer re-signs every version {old[:12]} signed: `bulkhead models` shows "
            f"`signed (key {new[:12]})` for each (a few seconds per version)",
            "models whose trust policy names key ids (serve_config.yaml `trust.signers`): "
            f"add {new[:12]}, then `bulkhead deploy`",
            f"then retire the old key: `bulkhead signing retire {old[:12]}` (it names any "
            "version still signed only by it, which would stop being served)",
        ],
    )


def signed_by(platform: Platform, key_id: str) -> list[SignedVersion]:
    """Every version of the configured models whose signature names ``key_id``."""
    from mlflow import MlflowClient

    platform.credentials("server").activate()
    client = MlflowClient()
    found = []
    for model in platform.settings.models:
        try:
            listed = client.search_model_versions(f"name='{model}'")
        except Exception:  # a configured model not registered yet
            continue
        for mv in listed:
            signature = (mv.tags or {}).get(SIGNATURE_TAG)
            if signature is not None and key_hint(signature) == key_id:
                found.append(
                    SignedVersion(model=model, version=str(mv.version), aliases=list(mv.aliases))
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
