"""``bulkhead deploy``: `serve deploy serve_config.yaml` against the serve zone, then prove it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import typer
import yaml
from rich.markup import escape

from bulkhead import tls_terminator
from bulkhead.platform import Platform, read_api_key
from bulkhead.services import ray_client_env, tls_verify
from bulkhead.settings import Zone

READY_TIMEOUT_S = 180.0
SAMPLE_TEXTS = ["A warm, funny and beautifully acted film.", "Tedious, clumsy and far too long."]


def render_config(
    platform: Platform, config: Path, user_config: dict[str, Any] | None = None
) -> Path:
    """The user's config with the platform's serve address: the platform owns its ports, so
    a second platform (tests, another checkout) never binds the first one's port.

    ``user_config`` overrides keys of every deployment's live settings (the benchmark uses it
    to switch precision without editing the user's file).
    """
    data = yaml.safe_load(config.read_text())
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
        from bulkhead import tls

        cert = tls.files(platform.paths).serve_https
        data["http_options"]["ssl_certfile"] = str(cert.cert)
        data["http_options"]["ssl_keyfile"] = str(cert.key)
    for application in data.get("applications", []):
        for deployment in application.get("deployments", []):
            if user_config:
                deployment.setdefault("user_config", {}).update(user_config)
    rendered = platform.paths.home / "serve_config.rendered.yaml"
    rendered.write_text(yaml.safe_dump(data, sort_keys=False))
    return rendered


def deploy(
    platform: Platform,
    config: Path,
    user_config: dict[str, Any] | None = None,
    *,
    show_usage: bool = True,
) -> dict[str, Any]:
    console = platform.console
    state = platform.load_state()
    zone = state.zones.get(Zone.SERVE)
    if zone is None:
        console.print("[red]deploy: the serve zone is not running; run `bulkhead up`[/]")
        raise typer.Exit(3)
    env = {
        **os.environ,
        **ray_client_env(zone.token_file),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    serve_bin = str(Path(sys.executable).parent / "serve")
    rendered = render_config(platform, config, user_config)
    started = time.monotonic()
    with console.status(f"[bold]serve deploy {config}[/]…"):
        done = subprocess.run(
            [serve_bin, "deploy", str(rendered), "--address", zone.dashboard_url],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    if done.returncode != 0:
        console.print(f"[red]serve deploy failed:[/]\n{escape(str(done.stderr[-2000:]))}")
        raise typer.Exit(1)
    url = platform.settings.serve_url
    verify = tls_verify(platform.settings, platform.paths)
    deadline = time.monotonic() + READY_TIMEOUT_S
    with console.status("[bold]waiting for a replica with a verified model[/]…"):
        ready: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"{url}/v2/health/ready", timeout=2, verify=verify)
                ready = (
                    response.json()
                    if response.headers.get("content-type", "").startswith("application/json")
                    else {}
                )
                if response.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            console.print(
                f"[red]serve app not ready after {READY_TIMEOUT_S:.0f} s:[/] {escape(str(ready))}"
            )
            raise typer.Exit(1)
    key = read_api_key(platform.paths)
    sample = httpx.post(
        f"{url}/v1/predict",
        json={"texts": SAMPLE_TEXTS},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
        verify=verify,
    )
    console.print(
        f"[green]✓[/] serve app ready at {url} with model v{ready.get('model_version')} "
        f"({time.monotonic() - started:.0f} s)"
    )
    body: dict[str, Any] = sample.json()
    if not show_usage:
        return body
    for text, prediction in zip(SAMPLE_TEXTS, body.get("predictions", []), strict=False):
        console.print(f"  {text!r} → {prediction['label']} ({prediction['score']:.3f})")
    console.print(f"try it:\n  {curl_example(platform, url, verify)}\n  API docs: {url}/docs")
    return body


def curl_example(platform: Platform, url: str, verify: str | bool) -> str:
    """A prediction with curl that reads the key from a file (``-H @file``): a key in an
    argument would be visible to every local user in ``ps``."""
    cacert = f"--cacert {verify} " if isinstance(verify, str) else ""
    return (
        f"curl -s {cacert}{url}/v1/predict -H @{platform.paths.serve_auth_header} "
        "-H 'content-type: application/json' -d '{\"texts\": [\"a delightful film\"]}'"
    )
