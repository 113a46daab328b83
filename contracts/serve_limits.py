"""The serve zone's request limits' defaults, in one place: the replica's limits
(serving/config.py LimitsConfig, serving/http/middleware.py Guards) and the platform's
HAProxy deadline (bulkhead/platform/settings.py), which must be at least the replica's body
deadline (checked when `deploy` renders serve_config.yaml)."""

from __future__ import annotations

MAX_BODY_BYTES = 65_536  # request body (413 above)
BODY_TIMEOUT_S = 10.0  # the replica's deadline for the whole body (408 after)
MAX_IN_FLIGHT = 32  # requests a replica admits at once (503 + Retry-After above)
MAX_TEXTS = 64  # texts per request (422 above)
MAX_CHARS = 2_000  # characters per text (422 above)
# HAProxy holds each request whole before it reaches a replica: it must wait at least as long
# as the replica would, or it answers 408 first and the replica's own deadline never applies.
REQUEST_TIMEOUT_S = 10
# Each node's ingress answers 504 when no replica answered within this (it owns the deadline
# and tells the replica not to keep one); the front balancer waits longer than this.
ANSWER_TIMEOUT_S = 30
