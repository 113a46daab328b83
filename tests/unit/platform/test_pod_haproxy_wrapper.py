"""The HAProxy wrapper a KubeRay serve pod runs: the image writes it, the RayService names it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from bulkhead.platform import haproxy_wrapper
from bulkhead.render import manifests
from tests.unit.platform.test_services import RAY_DEFAULTS
from tests.utils.haproxy import config_after_wrapper

ROOT = Path(__file__).resolve().parents[3]


def test_the_pod_wrapper_keeps_rays_ports_on_loopback_and_holds_requests_whole(
    tmp_path: Path,
) -> None:
    from ray.serve._private import constants

    assert constants.RAY_SERVE_HAPROXY_STATS_PORT == haproxy_wrapper.RAY_HAPROXY_STATS_PORT
    assert constants.RAY_SERVE_HAPROXY_METRICS_PORT == haproxy_wrapper.RAY_HAPROXY_METRICS_PORT
    wrapper = haproxy_wrapper.write_pod_wrapper(tmp_path / "pod")
    assert (tmp_path / "pod" / haproxy_wrapper.REQUEST_TIMEOUT_ERRORFILE).exists()
    answer = tmp_path / "pod" / haproxy_wrapper.ANSWER_TIMEOUT_ERRORFILE
    assert answer.read_bytes().startswith(b"HTTP/1.1 504")
    rewritten = config_after_wrapper(
        wrapper.read_text(),
        RAY_DEFAULTS
        + "    errorfile 504 /ray/500.http\n"
        + "listen stats\n  bind *:8404\nfrontend prometheus\n  bind :9101\n"
        + "frontend http_frontend\n  bind *:8000\n",
        tmp_path,
    )
    assert "bind 127.0.0.1:8404" in rewritten and "bind 127.0.0.1:9101" in rewritten
    assert "option http-buffer-request" in rewritten
    assert "timeout http-request 10s" in rewritten
    assert f"errorfile 504 {answer}" in rewritten
    assert "http-request set-header x-request-timeout-seconds 31" in rewritten
    cfg = tmp_path / "checked.cfg"
    cfg.write_text(rewritten.replace("retry-on", "#") + "backend b\n")
    checked = subprocess.run(
        [haproxy_wrapper.haproxy_binary(), "-c", "-f", str(cfg)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_image_writes_the_wrapper_the_ray_service_runs() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert f"python -m bulkhead.platform.haproxy_wrapper {haproxy_wrapper.POD_WRAPPER_DIR}" in (
        dockerfile
    )
    (service,) = [
        doc for doc in yaml.safe_load_all(manifests.render()) if doc["kind"] == "RayService"
    ]
    groups = [service["spec"]["rayClusterConfig"]["headGroupSpec"]]
    groups += service["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    for group in groups:
        ray = group["template"]["spec"]["containers"][0]  # the Ray node (Serve's HAProxy)
        env = {item["name"]: item.get("value") for item in ray["env"]}
        assert env["RAY_SERVE_HAPROXY_BINARY_PATH"] == str(
            haproxy_wrapper.POD_WRAPPER_DIR / "haproxy"
        )
