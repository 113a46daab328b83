"""The two routes Bulkhead's registry adds to MLflow's API (registry/alias_poll.py).

``GET ALIAS_POLL_ROUTE?name=NAME&alias=ALIAS`` answers the version an alias points at, with
its run, source and tags, and an ETag; a request whose ``If-None-Match`` matches gets 304.

``GET CHANGES_ROUTE`` answers an ETag that changes whenever a model-registry write has passed
the registry process that answers (304 on a match): a client that would otherwise list every
version on every pass (the model signer) asks this first.
"""

from __future__ import annotations

ALIAS_POLL_ROUTE = "/bulkhead/v1/alias"
CHANGES_ROUTE = "/bulkhead/v1/changes"
