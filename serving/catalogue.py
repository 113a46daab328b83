"""``GET /v1/models``: which models a caller may call, the version each answers with and the
routes that reach it.

Every application describes itself (``describe()`` on its ingress: a model's application its
model, a family's application its members); the default model's application, which Serve
sends ``/v1/models`` to, gathers the descriptions and keeps them for ``LISTING_TTL_S`` so that
a client polling the list costs the Serve controller one call per few seconds, not one per
request. Each caller then sees only the models its key may call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from contracts.serve_api import (
    FAMILY,
    MOUNTED_FEEDBACK,
    MOUNTED_PREDICT,
    MOUNTED_READY,
    MOUNTED_STATUS,
    model_route,
    oip_infer,
    oip_model,
)
from serving.errors import ListingUnavailable
from serving.schemas import ListedModel

LISTING_TTL_S = 2.0
# The whole gathering (Serve's application list, then every application's description).
DISCOVER_TIMEOUT_S = 5.0

# (model name) -> whether the caller's key may call it.
Scope = Callable[[str], bool]
Discover = Callable[[], Awaitable[list[ListedModel]]]


def model_routes(name: str) -> dict[str, str]:
    """A model application's routes (the default model also answers /v1/predict and kin)."""
    return {
        "predict": model_route(name, MOUNTED_PREDICT),
        "feedback": model_route(name, MOUNTED_FEEDBACK),
        "status": model_route(name, MOUNTED_STATUS),
        "ready": model_route(name, MOUNTED_READY),
        "oip_metadata": oip_model(name),
        "oip_infer": oip_infer(name),
    }


def family_routes(member: str) -> dict[str, str]:
    return {
        "predict": f"{FAMILY}/{member}{MOUNTED_PREDICT}",
        "feedback": f"{FAMILY}/{member}{MOUNTED_FEEDBACK}",
    }


def listed_model(name: str, version: str | None) -> ListedModel:
    return ListedModel(
        name=name, version=version, ready=version is not None, routes=model_routes(name)
    )


def listed_members(family: str, members: list[str]) -> list[ListedModel]:
    """A family's members, each loaded on first use: ready to be asked, version unknown until
    a replica holds it."""
    return [
        ListedModel(name=m, version=None, ready=True, family=family, routes=family_routes(m))
        for m in members
    ]


def visible(models: list[ListedModel], may_call: Scope) -> list[ListedModel]:
    """What one caller sees: the models its key may call, by name."""
    return sorted((m for m in models if may_call(m.name)), key=lambda m: m.name)


class Catalogue:
    """The platform's models as last discovered, refreshed at most every ``ttl_s`` by one
    discovery at a time (requests that arrive meanwhile wait for it rather than start their
    own), each given ``timeout_s``. A discovery that fails or times out keeps the last list
    (and is a 503 when there is none yet)."""

    def __init__(
        self,
        discover: Discover,
        ttl_s: float = LISTING_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = DISCOVER_TIMEOUT_S,
    ) -> None:
        self._discover = discover
        self._ttl_s = ttl_s
        self._clock = clock
        self._timeout_s = timeout_s
        self._models: list[ListedModel] | None = None
        self._at = self._failed_at = float("-inf")
        self._refreshing: asyncio.Lock | None = None

    def _fresh(self) -> bool:
        return self._models is not None and self._clock() - self._at < self._ttl_s

    async def models(self) -> list[ListedModel]:
        if self._refreshing is None:  # made on the loop that uses it
            self._refreshing = asyncio.Lock()
        async with self._refreshing:
            if self._models is None and self._clock() - self._failed_at < self._ttl_s:
                raise ListingUnavailable("the platform's models cannot be listed right now; retry")
            if not self._fresh():
                try:
                    self._models = await asyncio.wait_for(self._discover(), self._timeout_s)
                except Exception as err:  # Serve's controller busy, restarting or slow
                    if self._models is None:
                        self._failed_at = self._clock()  # the next ones answered at once
                        raise ListingUnavailable(
                            "the platform's models cannot be listed right now; retry"
                        ) from err
                self._at = self._clock()
            assert self._models is not None
            return list(self._models)
