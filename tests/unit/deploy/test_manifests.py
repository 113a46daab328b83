"""deploy/ is what runs each zone on real infrastructure; these tests keep it valid and keep
the isolation it promises (the same boundary ``bulkhead up --isolate`` proves locally)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from bulkhead.render import manifests
from ingestion.schema import IngestJobSpec
from training.schema import TrainJobSpec

ROOT = Path(__file__).resolve().parents[3]
KUBERAY = ROOT / "deploy" / "kuberay"
AWS = ROOT / "deploy" / "aws"
ZONES = ("ingest", "train", "serve")
NAMESPACED_KINDS = {
    "ConfigMap",
    "PersistentVolumeClaim",
    "RayJob",
    "RayService",
    "NetworkPolicy",
    "ServiceAccount",
    "Deployment",
    "Service",
}


# ----------------------------------------------------------------- Kubernetes structure


class Metadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    namespace: str | None = None


class K8sObject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    apiVersion: str
    kind: str
    metadata: Metadata
    spec: dict[str, Any] | None = None
    data: dict[str, str] | None = None
    automountServiceAccountToken: bool | None = None  # a ServiceAccount's own field


class Container(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    image: str = Field(pattern=r"^[\w./-]+:[\w.-]+$")  # pinned tag, never :latest implicitly
    resources: dict[str, dict[str, str | int]]
    env: list[dict[str, Any]] = []


class PodSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    containers: list[Container] = Field(min_length=1)
    volumes: list[dict[str, Any]] = []
    nodeSelector: dict[str, str] = {}
    tolerations: list[dict[str, str]] = []
    securityContext: dict[str, Any] = {}


def _docs(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((KUBERAY / name).read_text()) if doc]


ALL_FILES = sorted(path.name for path in KUBERAY.glob("*.yaml"))


@pytest.mark.parametrize("name", ALL_FILES)
def test_every_kubernetes_object_is_well_formed(name: str) -> None:
    for doc in _docs(name):
        obj = K8sObject.model_validate(doc)
        if obj.kind in NAMESPACED_KINDS:
            assert obj.metadata.namespace and obj.metadata.namespace.startswith("bulkhead-"), (
                name,
                obj.metadata.name,
            )


def _pod_specs(doc: dict[str, Any]) -> list[PodSpec]:
    spec = doc.get("spec") or {}
    cluster = spec.get("rayClusterSpec") or spec.get("rayClusterConfig")
    if cluster is not None:
        templates = [cluster["headGroupSpec"]["template"]] + [
            group["template"] for group in cluster.get("workerGroupSpecs", [])
        ]
    elif doc["kind"] == "Deployment":
        templates = [spec["template"]]
    else:
        return []
    return [PodSpec.model_validate(template["spec"]) for template in templates]


@pytest.mark.parametrize("name", ALL_FILES)
def test_pods_hold_secrets_by_reference_only(name: str) -> None:
    for doc in _docs(name):
        for pod in _pod_specs(doc):
            assert pod.securityContext.get("runAsNonRoot") is True
            for volume in pod.volumes:
                if "secret" in volume:
                    assert volume["secret"]["defaultMode"] == 0o400, volume
            for container in pod.containers:
                assert "memory" in container.resources["limits"]
                for var in container.env:
                    literal = str(var.get("value", ""))
                    looks_secret = any(
                        word in var["name"].upper() for word in ("PASSWORD", "SECRET", "TOKEN")
                    )
                    assert not (looks_secret and literal and not literal.startswith("/")), var


def test_one_namespace_per_zone() -> None:
    names = {doc["metadata"]["name"] for doc in _docs("namespaces.yaml")}
    assert {f"bulkhead-{zone}" for zone in (*ZONES, "registry")} <= names


def _ray_cluster(doc: dict[str, Any]) -> dict[str, Any]:
    cluster: dict[str, Any] = doc["spec"].get("rayClusterSpec") or doc["spec"]["rayClusterConfig"]
    return cluster


ZONE_FILES = {
    "ingest": "ray-job.ingest.yaml",
    "train": "ray-job.train.yaml",
    "serve": "ray-service.serve.yaml",
}


@pytest.mark.parametrize("zone", ZONES)
def test_each_zone_has_token_auth_with_its_own_secret(zone: str) -> None:
    ray_objects = [d for d in _docs(ZONE_FILES[zone]) if d["kind"] in {"RayJob", "RayService"}]
    assert len(ray_objects) == 1
    (obj,) = ray_objects
    assert obj["metadata"]["namespace"] == f"bulkhead-{zone}"
    cluster = _ray_cluster(obj)
    assert cluster["rayVersion"] == "2.60.0"
    assert cluster["authOptions"] == {"mode": "token", "secretName": f"bulkhead-{zone}-ray-token"}
    secrets = {
        volume["secret"]["secretName"]
        for pod in _pod_specs(obj)
        for volume in pod.volumes
        if "secret" in volume
    }
    # Registry credentials are the zone's own least-privilege user; no zone mounts another's.
    user = {"ingest": "ingest", "train": "trainer", "serve": "server"}[zone]
    assert f"bulkhead-registry-{user}" in secrets
    others = {"ingest", "trainer", "server"} - {user}
    assert not {f"bulkhead-registry-{other}" for other in others} & secrets


def _job_spec(name: str) -> tuple[dict[str, Any], str]:
    docs = _docs(name)
    (job,) = [d for d in docs if d["kind"] == "RayJob"]
    (config_map,) = [d for d in docs if d["kind"] == "ConfigMap"]
    entrypoint: str = job["spec"]["entrypoint"]
    spec_path = entrypoint.split("--spec-file ")[1]
    mount = Path(spec_path).parent.as_posix()
    head = _pod_specs(job)[0]
    mounted = {m["mountPath"]: m["name"] for m in head.containers[0].model_extra["volumeMounts"]}
    volume = next(v for v in head.volumes if v["name"] == mounted[mount])
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    return job, config_map["data"][Path(spec_path).name]


def test_ingest_job_runs_a_valid_spec_on_high_memory_nodes() -> None:
    job, spec_text = _job_spec("ray-job.ingest.yaml")
    assert job["spec"]["entrypoint"].startswith("python -m ingestion.job --spec-file ")
    spec = IngestJobSpec.model_validate_json(spec_text)
    assert spec.snapshots_dir == Path("/mnt/bulkhead/snapshots")
    workers = _ray_cluster(job)["workerGroupSpecs"]
    assert workers and all(
        PodSpec.model_validate(g["template"]["spec"]).nodeSelector["bulkhead.io/pool"] == "ingest"
        for g in workers
    )


def test_train_job_runs_a_valid_gpu_spec_on_gpu_nodes() -> None:
    job, spec_text = _job_spec("ray-job.train.yaml")
    assert job["spec"]["entrypoint"].startswith("python -m training.job --spec-file ")
    spec = TrainJobSpec.model_validate_json(spec_text)
    assert spec.config.use_gpu is True
    (group,) = _ray_cluster(job)["workerGroupSpecs"]
    pod = PodSpec.model_validate(group["template"]["spec"])
    gpus_per_pod = int(pod.containers[0].resources["limits"]["nvidia.com/gpu"])
    assert spec.config.num_workers <= group["minReplicas"] * gpus_per_pod
    assert pod.nodeSelector["bulkhead.io/pool"] == "train-gpu"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in (
        pod.tolerations
    )


def test_serve_config_v2_is_serve_config_yaml_and_valid_for_serve() -> None:
    from ray.serve.schema import ServeDeploySchema

    from bulkhead.render.serve_config import spread_over_nodes

    assert manifests.is_current(), "run `make manifests` after editing serve_config.yaml"
    service, _ = _docs("ray-service.serve.yaml")
    embedded = yaml.safe_load(service["spec"]["serveConfigV2"])
    source = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    ServeDeploySchema.model_validate(embedded)
    for application in source["applications"]:  # what the manifest adds: one replica per worker
        for deployment in application["deployments"]:
            spread_over_nodes(deployment, manifests.MIN_SERVE_WORKERS)
    assert embedded["applications"] == source["applications"]
    assert embedded["http_options"] == {**source["http_options"], "host": "0.0.0.0"}
    assert {k: v for k, v in embedded.items() if k != "http_options"} == {
        k: v for k, v in source.items() if k != "http_options"
    }
    cluster = _ray_cluster(service)
    assert cluster["enableInTreeAutoscaling"] is True
    (group,) = cluster["workerGroupSpecs"]
    assert group["maxReplicas"] > group["minReplicas"]


def test_the_serve_zone_keeps_two_ready_workers_on_different_hosts_and_zones() -> None:
    service, budget = _docs("ray-service.serve.yaml")
    (group,) = _ray_cluster(service)["workerGroupSpecs"]
    assert group["minReplicas"] >= 2 and group["replicas"] >= 2
    labels = group["template"]["metadata"]["labels"]
    pod = group["template"]["spec"]
    (anti,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti["topologyKey"] == "kubernetes.io/hostname"
    assert anti["labelSelector"]["matchLabels"].items() <= labels.items()
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone" and spread["maxSkew"] == 1
    for template in [_ray_cluster(service)["headGroupSpec"]["template"], group["template"]]:
        container, _keeper = template["spec"]["containers"]
        probe = container["readinessProbe"]["httpGet"]
        assert probe == {"path": "/v2/health/ready", "port": "serve"}
    assert budget["kind"] == "PodDisruptionBudget"
    assert budget["metadata"]["namespace"] == "bulkhead-serve"
    assert budget["spec"]["selector"]["matchLabels"] == labels
    assert 1 <= budget["spec"]["minAvailable"] < group["minReplicas"]
    embedded = yaml.safe_load(service["spec"]["serveConfigV2"])
    for application in embedded["applications"]:
        for deployment in application["deployments"]:
            autoscaling = deployment["autoscaling_config"]
            assert autoscaling["min_replicas"] >= min(2, autoscaling["max_replicas"])
            assert deployment["max_replicas_per_node"] >= 1


def test_only_the_drop_keeper_mounts_the_drop_and_the_ingest_job_reads_it_only() -> None:
    """Every serve pod: the serve container reaches the keeper's socket and no drop volume;
    the keeper runs as another uid, holds one secret (the request-id key, read-only: it keeps
    only rows whose id the serve container minted) and mounts the drop; the ingest job
    mounts the drop read-only; the drop's two volumes are the writer's and the reader's."""
    service, _ = _docs("ray-service.serve.yaml")
    cluster = _ray_cluster(service)
    templates = [cluster["headGroupSpec"]["template"]]
    templates += [g["template"] for g in cluster["workerGroupSpecs"]]
    for template in templates:
        spec = template["spec"]
        claims = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in spec["volumes"]
            if "persistentVolumeClaim" in v
        }
        assert claims == {"drop-records": "bulkhead-drop"}
        serve, keeper = spec["containers"]
        assert keeper["name"] == "drop-keeper"
        serve_mounts = {m["name"] for m in serve["volumeMounts"]}
        assert "drop-records" not in serve_mounts and "drop-inbox" in serve_mounts
        keeper_mounts = {m["name"] for m in keeper["volumeMounts"]}
        assert keeper_mounts == {"drop-inbox", "drop-records", "keeper-tmp", "request-id-key"}
        (key_mount,) = [m for m in keeper["volumeMounts"] if m["name"] == "request-id-key"]
        assert key_mount["readOnly"] is True
        assert keeper["command"][keeper["command"].index("--request-id-key") + 1].startswith(
            key_mount["mountPath"] + "/"
        )
        assert keeper["securityContext"]["runAsUser"] != spec["securityContext"]["runAsUser"]
        assert "--allow-uid" in keeper["command"]
        env = {e["name"]: e["value"] for e in serve["env"]}
        assert env["BULKHEAD_DROP_SOCKET"].startswith("/run/bulkhead/drop/")
    job = next(d for d in _docs("ray-job.ingest.yaml") if d["kind"] == "RayJob")
    head = job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    (drop_mount,) = [m for m in head["containers"][0]["volumeMounts"] if m["name"] == "drop"]
    assert drop_mount["readOnly"] is True
    (drop_volume,) = [v for v in head["volumes"] if v["name"] == "drop"]
    assert drop_volume["persistentVolumeClaim"]["readOnly"] is True
    docs = _docs("drop.yaml")
    claims_by_ns = {
        d["metadata"]["namespace"]: d["spec"]["accessModes"]
        for d in docs
        if d["kind"] == "PersistentVolumeClaim"
    }
    assert claims_by_ns == {
        "bulkhead-serve": ["ReadWriteMany"],
        "bulkhead-ingest": ["ReadOnlyMany"],
    }
    reader = next(d for d in docs if d["metadata"]["name"] == "bulkhead-drop-reader")
    assert reader["spec"]["csi"]["readOnly"] is True


def test_the_aws_serve_cluster_keeps_two_workers_across_two_availability_zones() -> None:
    config = _aws("serve")
    assert len(config["provider"]["availability_zone"].split(",")) >= 2
    workers = config["available_node_types"]["serve-compute"]
    assert workers["min_workers"] >= 2


def test_drift_between_serve_config_and_ray_service_is_detected(tmp_path: Path) -> None:
    edited = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    edited["applications"][0]["deployments"][0]["autoscaling_config"]["max_replicas"] = 7
    config = tmp_path / "serve_config.yaml"
    config.write_text(yaml.safe_dump(edited))
    target = tmp_path / "ray-service.serve.yaml"
    target.write_text(manifests.RAY_SERVICE.read_text())
    assert not manifests.is_current(target, config)
    assert manifests.write(target, config)
    assert manifests.is_current(target, config)
    assert "max_replicas: 7" in target.read_text()


# ----------------------------------------------------------------- NetworkPolicies


def _policies() -> list[dict[str, Any]]:
    return _docs("network-policies.yaml")


def _peers_allow(peers: list[dict[str, Any]], own_ns: str, other_ns: str) -> bool:
    for peer in peers:
        if "ipBlock" in peer:
            # ipBlocks here are the outside world (clients, NFS, Postgres, S3), never pods.
            continue
        selector = peer.get("namespaceSelector")
        if selector is None:
            if own_ns == other_ns:
                return True
            continue
        if selector.get("matchLabels", {}).get("kubernetes.io/metadata.name") == other_ns:
            return True
    return False


def _allowed(direction: str, ns: str, other_ns: str) -> bool:
    key, peer_key = ("egress", "to") if direction == "egress" else ("ingress", "from")
    return any(
        _peers_allow(rule.get(peer_key, []), ns, other_ns)
        for policy in _policies()
        if policy["metadata"]["namespace"] == ns
        for rule in policy["spec"].get(key, [])
    )


def _reachable(src: str, dst: str) -> bool:
    src_ns, dst_ns = f"bulkhead-{src}", f"bulkhead-{dst}"
    return _allowed("egress", src_ns, dst_ns) and _allowed("ingress", dst_ns, src_ns)


def test_every_zone_namespace_starts_from_deny_all() -> None:
    for zone in (*ZONES, "registry"):
        deny = [
            p
            for p in _policies()
            if p["metadata"]["namespace"] == f"bulkhead-{zone}"
            and p["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        ]
        assert deny, zone


@pytest.mark.parametrize("zone", ZONES)
def test_zones_reach_the_registry(zone: str) -> None:
    assert _reachable(zone, "registry")
    assert not _reachable("registry", zone)


@pytest.mark.parametrize(
    ("src", "dst"),
    [(a, b) for a in ZONES for b in ZONES if a != b],
)
def test_zones_cannot_reach_each_other(src: str, dst: str) -> None:
    assert not _reachable(src, dst)


def test_only_the_serve_ingress_is_open_to_clients() -> None:
    open_ports = {
        (policy["metadata"]["namespace"], port["port"])
        for policy in _policies()
        for rule in policy["spec"].get("ingress", [])
        if any(peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0" for peer in rule["from"])
        for port in rule.get("ports", [])
    }
    assert open_ports == {("bulkhead-serve", 8000)}


# ----------------------------------------------------------------- AWS cluster launcher


def _aws(zone: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((AWS / f"{zone}.yaml").read_text())
    return config


@pytest.mark.parametrize("zone", ZONES)
def test_cluster_launcher_config_validates_against_rays_schema(zone: str) -> None:
    import jsonschema
    import ray.autoscaler
    from ray.autoscaler._private.util import prepare_config, validate_config

    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    config = _aws(zone)
    jsonschema.validate(config, schema)
    validate_config(prepare_config(config))


INSTANCE_FAMILY = {"ingest": ("r",), "train": ("g", "p"), "serve": ("c",)}


@pytest.mark.parametrize("zone", ZONES)
def test_cluster_launcher_fits_instances_and_security_groups_to_the_stage(zone: str) -> None:
    config = _aws(zone)
    group = config["provider"]["security_group"]
    assert group["GroupName"] == f"bulkhead-{zone}"
    sources = {
        pair["GroupName"]
        for rule in group["IpPermissions"]
        for pair in rule.get("UserIdGroupPairs", [])
    }
    assert not sources & {f"bulkhead-{other}" for other in ZONES}
    assert all("IpRanges" not in rule for rule in group["IpPermissions"])  # no open CIDRs
    workers = {k: v for k, v in config["available_node_types"].items() if k != "head"}
    assert workers
    for node_type in workers.values():
        family = node_type["node_config"]["InstanceType"]
        assert family.startswith(INSTANCE_FAMILY[zone]), family
        assert ("GPU" in node_type["resources"]) == (zone == "train")
    run_options = " ".join(config["docker"]["run_options"])
    assert "RAY_AUTH_MODE=token" in run_options
    commands = " ".join(config["initialization_commands"])
    assert f"bulkhead/{zone}/ray-token" in commands


def test_registry_is_reachable_only_from_the_zones_and_operators() -> None:
    template = yaml.safe_load((AWS / "registry-security-groups.yaml").read_text())
    registry = template["Resources"]["RegistryGroup"]["Properties"]
    sources = {rule["SourceSecurityGroupId"]["Ref"] for rule in registry["SecurityGroupIngress"]}
    assert sources == {"IngestGroupId", "TrainGroupId", "ServeGroupId", "OpsGroupId"}
    assert {rule["FromPort"] for rule in registry["SecurityGroupIngress"]} == {5000}
    database = template["Resources"]["DatabaseGroup"]["Properties"]
    assert [r["SourceSecurityGroupId"] for r in database["SecurityGroupIngress"]] == [
        {"Ref": "RegistryGroup"}
    ]


def test_the_registry_deployment_runs_without_mlflows_job_runner() -> None:
    (deployment,) = [d for d in _docs("registry.yaml") if d["kind"] == "Deployment"]
    (container,) = [
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "mlflow"
    ]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    # Several registry processes: a short alias-answer cache (registry/alias_poll.py).
    assert env["BULKHEAD_REGISTRY_ALIAS_CACHE_S"] == "1"


# ----------------------------------------------------------------- the model signer


def test_only_the_signer_mounts_the_signing_key_under_its_own_account() -> None:
    """The signing key is one Secret in the signer's own namespace, mounted read-only by one
    pod with a service account of its own and no Kubernetes API token."""
    docs = _docs("signer.yaml")
    (account,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    assert account["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert deployment["metadata"]["namespace"] == "bulkhead-signer"
    spec = deployment["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == account["metadata"]["name"] == "bulkhead-signer"
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    assert container["command"][:3] == ["python", "-m", "signer.service"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["signing-key"]["readOnly"] and mounts["snapshots"]["readOnly"]
    key_path = container["command"][container["command"].index("--key") + 1]
    assert key_path.startswith(mounts["signing-key"]["mountPath"] + "/")
    holders = [
        (name, doc["metadata"].get("name"))
        for name in ALL_FILES
        for doc in _docs(name)
        for pod in _pod_specs(doc)
        for volume in pod.volumes
        if volume.get("secret", {}).get("secretName") == "bulkhead-signing-key"
    ]
    assert holders == [("signer.yaml", "bulkhead-signer")]


def test_the_signer_reaches_the_registry_and_nothing_reaches_it() -> None:
    names = {doc["metadata"]["name"] for doc in _docs("namespaces.yaml")}
    assert "bulkhead-signer" in names
    assert _reachable("signer", "registry")
    for other in (*ZONES, "registry"):
        assert not _reachable(other, "signer"), other
    for zone in ZONES:
        assert not _reachable("signer", zone), zone
    assert [
        p
        for p in _policies()
        if p["metadata"]["namespace"] == "bulkhead-signer"
        and p["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    ]


def test_serve_pods_verify_with_public_keys_only() -> None:
    """The serve container reads the key ring (a ConfigMap: public keys, nothing secret)
    from the path its env names; no private signing key is mounted in the serve namespace."""
    (service,) = [d for d in _docs("ray-service.serve.yaml") if d["kind"] == "RayService"]
    pods = list(_pod_specs(service))
    assert pods
    for pod in pods:
        ring = [v for v in pod.volumes if v["name"] == "trusted-keys"]
        assert ring == [
            {
                "name": "trusted-keys",
                "configMap": {"name": "bulkhead-serve-trusted-keys", "defaultMode": 0o444},
            }
        ]
        assert not [
            v for v in pod.volumes if "signing" in str(v.get("secret", {}).get("secretName"))
        ]
        serve = pod.containers[0]
        env = {e["name"]: e["value"] for e in serve.env}
        mounts = {m["name"]: m for m in serve.volumeMounts}
        assert mounts["trusted-keys"]["readOnly"]
        assert env["BULKHEAD_SERVE_TRUSTED_KEYS_FILE"].startswith(
            mounts["trusted-keys"]["mountPath"] + "/"
        )
    # The signer re-signs what the ring's other keys signed (a rotation): it mounts it too.
    (deployment,) = [d for d in _docs("signer.yaml") if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--trusted" in container["command"]
