"""The one route Bulkhead's registry adds to MLflow's API (registry/alias_poll.py).

``GET ALIAS_POLL_ROUTE?name=NAME&alias=ALIAS`` answers the version an alias points at, with
its run, source and tags, and an ETag; a request whose ``If-None-Match`` matches gets 304.
"""

from __future__ import annotations

ALIAS_POLL_ROUTE = "/bulkhead/v1/alias"
