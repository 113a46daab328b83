"""Request parameters several routes share.

(No ``from __future__ import annotations``: FastAPI reads these types.)
"""

from typing import Annotated

from fastapi import Header

from contracts.rollout import CLIENT_KEY_HEADER

# Sticky canary assignment during a rollout: the same key always reaches the same version.
ClientKey = Annotated[str | None, Header(alias=CLIENT_KEY_HEADER)]
