import ipaddress

import pytest

from bulkhead.platform.isolation import LINKS, IsolationError, IsolationLayout, Node
from bulkhead.platform.settings import PlatformSettings, Zone
from bulkhead.security.reachability import allowed, registry_link_targets, targets


def test_layout_names_fit_linux_and_links_do_not_overlap() -> None:
    layout = IsolationLayout.for_platform("/some/home/.bulkhead", 5000)
    interfaces = [name for link in layout.links for name in (link.a_interface, link.b_interface)]
    assert len(set(interfaces)) == len(interfaces) == 2 * len(LINKS)
    assert all(len(name) <= 15 for name in interfaces)
    subnets = {ipaddress.ip_interface(f"{link.a_address}/30").network for link in layout.links}
    assert len(subnets) == len(LINKS)
    assert all(ipaddress.ip_address(layout.registry_address) not in net for net in subnets)
    other = IsolationLayout.for_platform("/another/home/.bulkhead", 5000)
    assert set(other.namespaces.values()).isdisjoint(layout.namespaces.values())


def test_there_is_no_link_between_zones() -> None:
    zones = {Node.INGEST, Node.TRAIN, Node.SERVE}
    assert not [link for link in LINKS if link[0] in zones and link[1] in zones]


def test_a_too_small_subnet_is_refused() -> None:
    with pytest.raises(IsolationError, match="too small"):
        IsolationLayout.for_platform("/h", 5000, "10.9.9.0/28")


def test_applied_settings_bind_every_service_to_its_namespace() -> None:
    layout = IsolationLayout.for_platform("/h", 5000, "10.77.0.0/24")
    settings = layout.apply(PlatformSettings())
    assert settings.registry_url == "http://10.77.0.254:5000"
    hosts = {settings.zone_host(zone) for zone in Zone}
    assert len(hosts) == 3 and "127.0.0.1" not in hosts
    assert settings.serve_url == f"http://{settings.zone_host(Zone.SERVE)}:8000"
    assert PlatformSettings().registry_url == "http://127.0.0.1:5000"


def test_the_allowed_matrix_is_the_designs() -> None:
    zones = (Node.INGEST, Node.TRAIN, Node.SERVE)
    for zone in zones:
        assert allowed(zone, Node.REGISTRY)
        assert allowed(Node.HOST, zone)
        assert not allowed(Node.REGISTRY, zone)
        for other in zones:
            assert allowed(zone, other) == (zone is other)


def test_registry_link_targets_are_the_zones_other_address() -> None:
    layout = IsolationLayout.for_platform("/h", 5000, "10.77.0.0/24")
    wanted = targets(layout.apply(PlatformSettings()))
    extra = registry_link_targets(layout, wanted)
    assert len(extra) == len([t for t in wanted if t.node is not Node.REGISTRY])
    assert all(t.address != layout.address_of(t.node) for t in extra)


def test_zone_filters_admit_new_connections_from_the_host_link_only() -> None:
    layout = IsolationLayout.for_platform("/h", 5000, "10.77.0.0/24")
    serve = layout._filter(Node.SERVE)
    assert "policy drop" in serve and "ct state established,related accept" in serve
    host_link = next(lk for lk in layout.links if lk.a is Node.HOST and lk.b is Node.SERVE)
    registry_link = next(lk for lk in layout.links if lk.a is Node.REGISTRY and lk.b is Node.SERVE)
    assert f'iifname "{host_link.b_interface}" accept' in serve
    assert registry_link.b_interface not in serve
    assert "tcp dport 5000 accept" in layout._filter(Node.REGISTRY)
