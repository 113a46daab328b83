"""Request parameters several routes share.

(No ``from __future__ import annotations``: FastAPI reads these types.)
"""

from typing import Annotated

from fastapi import Depends

from serving.http.auth import client_key_id

# Sticky canary assignment during a rollout: the same client key always reaches the same
# version. Keyed on the id of the key the gate authenticated, never on a header: a client must
# not pick the version it reaches. (The platform key has no id: assigned at random.)
ClientKey = Annotated[str | None, Depends(client_key_id)]
