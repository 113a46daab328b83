"""A serve zone of several nodes: addresses, ports, the per-node ingress rewrite, the front
balancer's config and status, and the spread of replicas over nodes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bulkhead.platform import balancer, haproxy_wrapper, serve_nodes, services
from bulkhead.platform.paths import StatePaths
from bulkhead.platform.settings import SERVE_NODES_HOST, PlatformSettings, Zone
from bulkhead.render.serve_config import spread_over_nodes
from tests.utils.haproxy import config_after_wrapper


def test_several_nodes_move_the_zone_off_127_0_0_1_and_give_each_node_its_ports() -> None:
    one = PlatformSettings()
    two = one.with_serve_nodes(2)
    assert one.with_serve_nodes(1) is one
    assert two.zone_host(Zone.SERVE) == SERVE_NODES_HOST != "127.0.0.1"
    # Clients keep the platform's address: the balancer's.
    assert two.serve_url == one.serve_url == f"http://127.0.0.1:{one.serve_http_port}"
    head, worker = two.serve.node_ports(0), two.serve.node_ports(1)
    assert head == two.serve.ports and worker.gcs == head.gcs + 200
    ingress = {two.serve.node_ingress_ports(k).node_http for k in range(2)}
    assert len(ingress) == 2 and not ingress & set(head.listening().values())


def test_worker_node_blocks_must_not_reach_another_zone() -> None:
    with pytest.raises(ValueError, match="claimed by both"):
        PlatformSettings(serve={"port_base": 23000, "nodes": 4}, registry_port=23700)


def test_a_worker_node_joins_the_head_with_its_own_ports(tmp_path: Path) -> None:
    settings = PlatformSettings(home=tmp_path).with_serve_nodes(2)
    paths = StatePaths.at(tmp_path)
    command = serve_nodes.worker_command(settings, paths, 1, "127.0.1.1:23000")
    assert "--head" not in command and "--address=127.0.1.1:23000" in command
    ports = settings.serve.node_ports(1)
    assert f"--node-manager-port={ports.node_manager}" in command
    assert f"--node-ip-address={SERVE_NODES_HOST}" in command
    # Named by a resource of its own, which is how a drain finds its Ray node id.
    resources = next(c for c in command if c.startswith("--resources="))
    assert f'"{serve_nodes.node_resource(1)}": 1' in resources
    env = serve_nodes.worker_env(settings, paths, 1)
    assert env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "1"
    own = settings.serve.node_ingress_ports(1)
    assert env["RAY_SERVE_HAPROXY_STATS_PORT"] == str(own.haproxy_stats)
    assert env["RAY_SERVE_HAPROXY_BINARY_PATH"].endswith("haproxy-n1")
    assert serve_nodes.worker_temp_dir(paths, 1) != paths.ray_temp_dir(Zone.SERVE)


def test_a_worker_nodes_haproxy_moves_its_frontend_to_the_nodes_own_port(tmp_path: Path) -> None:
    settings = PlatformSettings().with_serve_nodes(2)
    head, own = settings.serve.node_ingress_ports(0), settings.serve.node_ingress_ports(1)
    script = services.haproxy_loopback_wrapper(settings.serve, StatePaths.at(tmp_path), node=1)
    stdout = config_after_wrapper(
        script,
        f"listen stats\n  bind *:{own.haproxy_stats}\n"
        f"frontend http_frontend\n    bind 127.0.0.1:{head.node_http}\n"
        f"backend b\n    server r 127.0.0.1:{head.node_http}0\n",
        tmp_path,
    )
    assert f"bind 127.0.0.1:{own.node_http}\n" in stdout
    assert f"bind 127.0.0.1:{own.haproxy_stats}" in stdout
    assert f"server r 127.0.0.1:{head.node_http}0" in stdout, "only bind lines change"
    head_script = services.haproxy_loopback_wrapper(settings.serve, StatePaths.at(tmp_path), node=0)
    assert str(head.node_http) not in head_script


def test_the_balancer_checks_readiness_retries_elsewhere_and_fronts_every_node(
    tmp_path: Path,
) -> None:
    settings = PlatformSettings(home=tmp_path).with_serve_nodes(3)
    paths = StatePaths.at(tmp_path)
    config = balancer.config(settings, paths)
    assert f"bind 127.0.0.1:{settings.serve_http_port}\n" in config
    for node in range(3):
        assert f"server node{node} {balancer.node_address(settings, node)}\n" in config
    assert "option httpchk GET /v2/health/ready" in config
    assert "retry-on conn-failure empty-response" in config and "option redispatch" in config
    assert "option http-buffer-request" in config  # a request held whole can be retried
    assert "stats socket" in config and "mode 600" in config
    assert f"timeout http-request {settings.serve.request_timeout_s}s" in config  # slowloris
    balancer.folder(paths).mkdir(parents=True, exist_ok=True)
    services.write_request_timeout_errorfile(PlatformSettings().serve, paths, None)
    cfg = tmp_path / "balancer.cfg"
    cfg.write_text(config)
    checked = subprocess.run(
        [haproxy_wrapper.haproxy_binary(), "-c", "-f", str(cfg)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr  # HAProxy itself accepts it


def test_the_balancers_stat_rows_become_each_nodes_check() -> None:
    stat = (
        "# pxname,svname,qcur,status,addr\n"
        "serve,FRONTEND,,OPEN,\n"
        "serve_nodes,node1,0,DOWN,127.0.0.1:23255\n"
        "serve_nodes,node0,0,UP,127.0.0.1:23055\n"
        "serve_nodes,BACKEND,0,UP,\n"
    )
    rows = balancer.parse_stat(stat)
    assert [(r.node, r.status, r.address) for r in rows] == [
        (0, "UP", "127.0.0.1:23055"),
        (1, "DOWN", "127.0.0.1:23255"),
    ]
    assert balancer.parse_stat("") == [] and balancer.parse_stat("garbage") == []


def test_replicas_spread_one_per_node_before_any_node_gets_a_second() -> None:
    autoscaled = {"autoscaling_config": {"min_replicas": 1, "max_replicas": 2}}
    spread_over_nodes(autoscaled, 2)
    assert autoscaled["autoscaling_config"]["min_replicas"] == 2
    assert autoscaled["max_replicas_per_node"] == 1
    wide = {"autoscaling_config": {"min_replicas": 1, "max_replicas": 5, "initial_replicas": 1}}
    spread_over_nodes(wide, 2)
    assert wide["autoscaling_config"]["min_replicas"] == 2
    assert wide["autoscaling_config"]["initial_replicas"] == 2
    assert wide["max_replicas_per_node"] == 3
    fixed = {"num_replicas": 1}
    spread_over_nodes(fixed, 3)
    assert fixed == {"num_replicas": 1, "max_replicas_per_node": 1}


def test_only_drain_and_ready_can_be_set_on_a_node(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown server state"):
        balancer.set_node(StatePaths.at(tmp_path), 1, "maint; shutdown sessions")
    # No balancer running: the admin socket is not there, nothing is set.
    assert balancer.set_node(StatePaths.at(tmp_path), 1, "drain") is False
    assert balancer.backends(StatePaths.at(tmp_path)) == []


# What `ray list nodes --format json --detail` answers (Ray 2.60), two nodes of one zone.
LISTED = (
    '[{"node_id": "aa11", "is_head_node": false, "state": "ALIVE", "resources_total": '
    '{"CPU": 3.0, "zone_serve": 1000.0, "bulkhead_serve_node_1": 1.0}}, '
    '{"node_id": "ff00", "is_head_node": true, "state": "ALIVE", "resources_total": '
    '{"CPU": 3.0, "zone_serve": 1000.0}}]'
)


def test_a_drain_finds_the_node_by_its_resource_and_tells_ray(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `ray` CLI is outside the unit: a stand-in records its arguments and token."""
    from bulkhead.platform.procs import ProcessRecord
    from bulkhead.platform.state import ZoneState

    calls = tmp_path / "calls"
    fake = tmp_path / "ray"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$RAY_AUTH_TOKEN_PATH $*" >> {calls}\n'
        f"[ \"$1\" = list ] && echo '{LISTED}'\n"
        f'[ -e {tmp_path / "refuse"} ] && {{ echo "GCS refused" >&2; exit 1; }}\n'
        "exit 0\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(services, "venv_bin", lambda: tmp_path)
    zone = ZoneState(
        zone=Zone.SERVE,
        process=ProcessRecord(pid=1, create_time=0.0, log=tmp_path / "x.log"),
        gcs_address="127.0.1.1:23000",
        dashboard_url="http://127.0.1.1:23001",
        token_file=tmp_path / "token",
        temp_dir=tmp_path,
    )
    assert serve_nodes.worker_node_id(zone, 1) == "aa11"
    assert serve_nodes.worker_node_id(zone, 2) is None
    assert serve_nodes.drain_worker(zone, 1, 12) == "aa11"
    drain = calls.read_text().splitlines()[-1].split()
    assert drain[0] == str(tmp_path / "token")
    assert drain[1:] == [
        "drain-node",
        "--address",
        "127.0.1.1:23000",
        "--node-id",
        "aa11",
        "--reason",
        "DRAIN_NODE_REASON_PREEMPTION",
        "--reason-message",
        "bulkhead:",
        "serve",
        "worker",
        "node",
        "1",
        "restarts",
        "--deadline-remaining-seconds",
        "12",
    ]
    with pytest.raises(RuntimeError, match="not alive"):
        serve_nodes.drain_worker(zone, 2, 12)
    (tmp_path / "refuse").touch()
    with pytest.raises(RuntimeError, match="ray list nodes failed: GCS refused"):
        serve_nodes.drain_worker(zone, 1, 12)
