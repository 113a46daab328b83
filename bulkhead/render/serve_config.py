"""The user's serve_config.yaml with the platform's address, ports and TLS filled in."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bulkhead.platform import tls_terminator
from bulkhead.platform.core import Platform
from bulkhead.platform.settings import Zone
from contracts import serve_limits


class ServeConfigError(ValueError):
    """serve_config.yaml asks for something the platform's settings cannot honour."""


def check_deadlines(data: dict[str, Any], request_timeout_s: float) -> None:
    """Every application's body deadline within the HAProxy's (serve.request_timeout_s): a
    longer one never applies, HAProxy answers 408 first."""
    for application in data.get("applications", []):
        for deployment in application.get("deployments", []):
            limits = (deployment.get("user_config") or {}).get("limits") or {}
            body_s = float(limits.get("body_timeout_s", serve_limits.BODY_TIMEOUT_S))
            if body_s > request_timeout_s:
                raise ServeConfigError(
                    f"application {application.get('name')!r}: limits.body_timeout_s "
                    f"({body_s:g} s) is longer than the serve zone's HAProxy deadline "
                    f"(serve.request_timeout_s, {request_timeout_s:g} s), which would answer "
                    "408 first; lower it, or raise BULKHEAD_SERVE__REQUEST_TIMEOUT_S"
                )


def render_config(
    platform: Platform,
    config: Path,
    user_config: dict[str, Any] | None = None,
    deployment: dict[str, Any] | None = None,
) -> Path:
    """The user's config with the platform's serve address: the platform owns its ports, so
    a second platform (tests, another checkout) never binds the first one's port.

    ``user_config`` overrides keys of every model deployment's live settings (the benchmark
    uses it to switch precision without editing the user's file); ``deployment`` sets (or, with
    ``None``, removes) keys of every model deployment itself (the benchmark pins replica
    counts). A model deployment names its model (``user_config.model_name``); a model family's
    deployments (serving/family.py) keep their own settings.
    """
    data = yaml.safe_load(config.read_text())
    check_deadlines(data, platform.settings.serve.request_timeout_s)
    data.setdefault("http_options", {})
    isolated = platform.load_state().isolation is not None
    # Under isolation the zone's address is not loopback, but Serve's HAProxy ingress still
    # sends to replicas on 127.0.0.1: bind every interface of the serve namespace, whose
    # nftables filter admits new connections from the host link only.
    data["http_options"]["host"] = (
        "0.0.0.0" if isolated else platform.settings.zone_host(Zone.SERVE)  # bind-ok: netns only
    )
    data["http_options"]["port"] = platform.settings.serve_http_port
    if tls_terminator.used(platform.settings):
        # HTTPS is the terminator's; Serve's ingress listens on loopback behind it.
        data["http_options"]["host"] = tls_terminator.BACKEND_HOST
        data["http_options"]["port"] = tls_terminator.backend_port(platform.settings)
    elif platform.settings.tls:
        # Without the HAProxy ingress, Serve's own proxy terminates TLS.
        from bulkhead.platform import tls

        cert = tls.files(platform.paths).serve_https
        data["http_options"]["ssl_certfile"] = str(cert.cert)
        data["http_options"]["ssl_keyfile"] = str(cert.key)
    serve = platform.settings.serve
    if serve.multi_node:
        # Each node's ingress on its own port behind the front balancer (the head's here;
        # the workers' HAProxy wrapper moves theirs); replicas on loopback, where every
        # node's HAProxy reaches them (bulkhead/platform/serve_nodes.py).
        data["http_options"]["host"] = platform.settings.host
        data["http_options"]["port"] = serve.ingress_ports.node_http
    for application in data.get("applications", []):
        for settings in application.get("deployments", []):
            if serve.multi_node:
                spread_over_nodes(settings, serve.nodes)
            if not (settings.get("user_config") or {}).get("model_name"):
                continue
            if user_config:
                settings.setdefault("user_config", {}).update(user_config)
            for key, value in (deployment or {}).items():
                if value is None:
                    settings.pop(key, None)
                else:
                    settings[key] = value
    rendered = rendered_path(platform)
    rendered.write_text(yaml.safe_dump(data, sort_keys=False))
    return rendered


def spread_over_nodes(deployment: dict[str, Any], nodes: int) -> None:
    """One replica per node before any node gets a second: losing a node must not take a
    model's every replica. Autoscaled deployments keep at least one replica per node (up to
    their maximum); Serve places at most ceil(max / nodes) on one node."""
    autoscaling = deployment.get("autoscaling_config")
    if autoscaling:
        most = int(autoscaling.get("max_replicas", 1))
        autoscaling["min_replicas"] = max(int(autoscaling.get("min_replicas", 1)), min(nodes, most))
        if autoscaling.get("initial_replicas") is not None:
            autoscaling["initial_replicas"] = max(
                int(autoscaling["initial_replicas"]), autoscaling["min_replicas"]
            )
    else:
        most = int(deployment.get("num_replicas", 1))
    deployment["max_replicas_per_node"] = max(1, math.ceil(most / nodes))


def _served_models(data: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(application, route prefix, model) for every deployment that names its model."""
    for application in data.get("applications", []):
        for settings in application.get("deployments", []):
            model = (settings.get("user_config") or {}).get("model_name")
            if model:
                yield application["name"], application.get("route_prefix", "/"), model


def model_applications(config: Path) -> dict[str, str]:
    """Application name -> the model it serves (each deployment's user_config.model_name)."""
    data = yaml.safe_load(config.read_text())
    return {application: model for application, _, model in _served_models(data)}


def rendered_path(platform: Platform) -> Path:
    return platform.paths.home / "serve_config.rendered.yaml"


def deployed_config(platform: Platform) -> Path:
    """The config `bulkhead deploy` last rendered, else the project's serve_config.yaml."""
    rendered = rendered_path(platform)
    return rendered if rendered.is_file() else Path("serve_config.yaml")


def application_of(platform: Platform, model: str) -> tuple[str, str] | None:
    """(application, route prefix) serving ``model`` in the deployed config, if any."""
    data = yaml.safe_load(deployed_config(platform).read_text())
    return next(((a, prefix) for a, prefix, m in _served_models(data) if m == model), None)


def replica_floor(platform: Platform, application: str) -> int | None:
    """The fewest replicas Serve keeps of ``application``'s model deployment in the deployed
    config; None if the config does not say."""
    return floor_of(yaml.safe_load(deployed_config(platform).read_text()), application)


def floor_of(data: dict[str, Any], application: str) -> int | None:
    """``min_replicas`` (or a fixed ``num_replicas``) of ``application``'s model deployment."""
    for app in data.get("applications", []):
        if app.get("name") != application:
            continue
        for settings in app.get("deployments", []):
            if not (settings.get("user_config") or {}).get("model_name"):
                continue
            scaling = settings.get("autoscaling_config")
            if isinstance(scaling, dict):
                return int(scaling.get("min_replicas", 1))
            fixed = settings.get("num_replicas")
            return int(fixed) if isinstance(fixed, int) else 1
    return None
