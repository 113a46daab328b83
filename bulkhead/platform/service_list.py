"""Every service `up` starts, in the order it starts them; `down` stops them in reverse.

Adding a service: a ``Service`` subclass beside the function that starts it, its record in
``PlatformState``, and one line here (docs/architecture.md, "Where to change what").
"""

from __future__ import annotations

from bulkhead.platform.balancer import BalancerService
from bulkhead.platform.drop_keeper import DropKeeperService
from bulkhead.platform.rollout_controller import RolloutControllerService
from bulkhead.platform.serve_nodes import ServeWorkersService
from bulkhead.platform.service import Service
from bulkhead.platform.services import RegistryService, ZoneService
from bulkhead.platform.settings import Zone
from bulkhead.platform.signer import SignerService
from bulkhead.platform.tls_terminator import TlsTerminatorService

SERVICES: tuple[Service, ...] = (
    RegistryService(),
    SignerService(),  # after the registry's users: it signs as its own
    DropKeeperService(),  # before the zones: the serve zone's replicas send to it
    ZoneService(Zone.INGEST),
    ZoneService(Zone.TRAIN),
    ZoneService(Zone.SERVE),
    ServeWorkersService(),  # `up --serve-nodes N`: join the serve head
    BalancerService(),  # ... behind one address
    TlsTerminatorService(),  # `up --tls`: HTTPS in front of the serve zone
    RolloutControllerService(),
)
