"""Signing a registered version as the model signer would (bulkhead/harness/signing.py), for
tests whose subject is what serving does with files the signer passed: a bundle broken in a
way no offline check sees, a tiny bundle without training evidence."""

from __future__ import annotations

from bulkhead.harness import signing
from tests.utils.platform import TestPlatform


def sign_as_signer(platform: TestPlatform, model: str, version: str, **options: object) -> str:
    return signing.sign_registered(platform.paths, model, version, **options)  # type: ignore[arg-type]
