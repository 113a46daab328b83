"""`bulkhead status`: what runs, asked of each service and of the serve app itself."""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx

from bulkhead.platform import balancer, drop_keeper, provision
from bulkhead.platform.isolation import ZONE_NODES
from bulkhead.platform.procs import is_alive, tcp_open
from bulkhead.platform.service import Context, Service
from bulkhead.platform.services import RegistryService
from bulkhead.platform.settings import Zone
from bulkhead.platform.state import BALANCER, DROP_KEEPER, ROLLOUT_CONTROLLER
from bulkhead.platform.status import (
    DropStatus,
    PlatformStatus,
    ServeNodeStatus,
    ServingView,
    ZoneStatus,
)
from contracts.tags import CHAMPION
from drop.keeper import KeeperStats
from registry.admin import RegistryError
from serving.client import ServeClient, ServeEndpoint, ServeError


def serving_view(endpoint: ServeEndpoint) -> ServingView:
    """What the serve app says it serves and refused: a bad artifact's reason shows here."""
    try:
        with ServeClient(endpoint, timeout_s=3) as client:
            answer = client.status()
    except ServeError as err:
        return ServingView(unreachable=f"serve app answered {err.status_code}")
    except (httpx.HTTPError, OSError, ValueError) as err:
        return ServingView(unreachable=f"serve app not answering: {err}")
    return ServingView(**answer.model_dump(include=set(ServingView.model_fields)))


def drop_status(ctx: Context) -> DropStatus | None:
    keeper = ctx.state.process(DROP_KEEPER)
    counted = drop_keeper.stats(ctx.paths)
    if keeper is None and counted is None:
        return None
    loop_alive = keeper is not None and is_alive(keeper)
    state = drop_keeper.keeper_state(loop_alive, counted, time.time())
    counted = counted or KeeperStats()
    return DropStatus(
        pid=keeper.pid if keeper is not None and loop_alive else None,
        state=state,
        keeper_pid=counted.pid if state == "running" else None,
        restarts=counted.restarts,
        records_dir=str(ctx.paths.drop_records),
        records=counted.records,
        bytes=counted.bytes,
        refused=counted.invalid + counted.refused_sender + counted.truncated + counted.unminted,
        dropped_full=counted.dropped_full,
        by_model=counted.by_model,
    )


def serve_node_status(ctx: Context, head: ZoneStatus) -> list[ServeNodeStatus]:
    settings = ctx.settings
    serve = settings.serve
    if not serve.multi_node:
        ingress = f"{settings.serve_host}:{settings.serve_http_port}"
        return [ServeNodeStatus(node=0, ingress=ingress, state=head.state, pid=head.pid)]
    checks = {b.node: b.status for b in balancer.backends(ctx.paths)}
    nodes = [
        ServeNodeStatus(
            node=0,
            ingress=balancer.node_address(settings, 0),
            state=head.state,
            pid=head.pid,
            balancer_check=checks.get(0),
        )
    ]
    for node in range(1, serve.nodes):
        record = ctx.state.serve_workers().get(node)
        alive = record is not None and is_alive(record)
        nodes.append(
            ServeNodeStatus(
                node=node,
                ingress=balancer.node_address(settings, node),
                state="running" if alive else "stopped",
                pid=record.pid if record is not None and alive else None,
                balancer_check=checks.get(node),
            )
        )
    return nodes


def zone_status(ctx: Context, zone: Zone) -> ZoneStatus:
    settings, state = ctx.settings, ctx.state
    zs = settings.zone(zone)
    zone_state = state.zones.get(zone)
    alive = zone_state is not None and is_alive(zone_state.process)
    host = settings.zone_host(zone)
    answering = tcp_open(host, zs.ports.gcs)
    return ZoneStatus(
        address=f"{host}:{zs.ports.gcs}",
        dashboard_url=f"http://{host}:{zs.ports.dashboard}",
        network_namespace=state.isolation.namespaces[ZONE_NODES[zone]] if state.isolation else None,
        state="running" if alive and answering else ("starting" if alive else "stopped"),
        pid=zone_state.process.pid if zone_state and alive else None,
        num_cpus=zs.num_cpus,
        token_file=str(ctx.paths.ray_token(zone)),
    )


def collect(
    ctx: Context, services: Sequence[Service], endpoint: ServeEndpoint, model_name: str
) -> PlatformStatus:
    """Every service's state, every model's champion, and ``model_name``'s in detail."""
    settings, state = ctx.settings, ctx.state
    # Each service asked once (its process, then its port): the registry's answer is reused.
    states = [service.status(ctx) for service in services]
    registry_up = any(
        isinstance(service, RegistryService) and state.state == "running"
        for service, state in zip(services, states, strict=True)
    )
    champions: dict[str, str | None] = dict.fromkeys(settings.models)
    registry_error: str | None = None
    if registry_up:
        try:
            with provision.admin_client(ctx.paths) as admin_client:
                for name in champions:
                    champions[name] = admin_client.alias_version(name, CHAMPION)
        except (RegistryError, httpx.HTTPError, OSError) as err:
            registry_error = str(err)
    zones = {zone.value: zone_status(ctx, zone) for zone in Zone}
    serving = serving_view(endpoint) if zones["serve"].state == "running" else None
    controller = state.process(ROLLOUT_CONTROLLER)
    front = state.process(BALANCER)
    return PlatformStatus(
        services=states,
        serve_nodes=serve_node_status(ctx, zones["serve"]),
        balancer_pid=front.pid if front is not None and is_alive(front) else None,
        serving=serving,
        serve_url=settings.serve_url,
        mlflow_url=settings.registry_url,
        registry_state="running" if registry_up else "stopped",
        registry_error=registry_error,
        model_name=model_name,
        default_model=settings.default_model,
        experiment_name=settings.experiment_name,
        champion_version=champions.get(model_name),
        champions=champions,
        api_key_file=str(ctx.paths.serve_api_key),
        secrets_dir=str(ctx.paths.secrets),
        latest_snapshots={name: str(path) for name, path in state.latest_snapshots.items()},
        isolated=state.isolation is not None,
        tls=state.tls,
        drop=drop_status(ctx),
        rollout_controller_pid=controller.pid
        if controller is not None and is_alive(controller)
        else None,
        identities=(
            {role.value: ident.name for role, ident in state.identities.roles.items()}
            if state.identities is not None
            else None
        ),
        zones=zones,
    )
