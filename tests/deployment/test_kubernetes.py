"""k8s/: valid against the Kubernetes schemas, complete, and saying what compose says."""
import copy
import re
import shutil
import subprocess

import jsonschema
import kubernetes_validate
import pytest
import yaml

from services.kernel.config import SETTINGS
import services
from tests.deployment.conftest import (
    DEPLOYED, DOMAIN_SERVICES, DOOR, K8S, PROBE, env_names, helper_env_names, k8s_documents, runner_service,
)

pytestmark = pytest.mark.deployment

# the oldest Kubernetes we support (native preStop sleep) and the newest schemas bundled
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())
OPERATOR_KINDS = {"RabbitmqCluster", "Cluster", "Database", "ServiceMonitor", "PodMonitor", "PrometheusRule"}
DOCUMENTS = k8s_documents()


def built_in(documents=DOCUMENTS):
    return [(path, doc) for path, doc in documents if doc["kind"] not in OPERATOR_KINDS]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path, document", built_in(),
                         ids=[f"{p.relative_to(K8S)}:{d['kind']}/{d['metadata']['name']}" for p, d in built_in()])
def test_manifest_matches_the_kubernetes_schema(path, document, version):
    # strict: a misspelt or misplaced field fails instead of being ignored by the API server
    kubernetes_validate.validate(document, version, strict=True)


def test_the_validation_catches_a_misplaced_field():
    deployment = copy.deepcopy(deployments()["auth"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


# The operators' CRD schemas are not bundled in any package we can install offline:
# the fields we use are checked against these subsets of their API references
# (RabbitMQ Cluster Operator rabbitmq.com/v1beta1, CloudNativePG postgresql.cnpg.io/v1,
# Prometheus Operator monitoring.coreos.com/v1).
QUANTITY = {"type": ["string", "integer"], "pattern": r"^[0-9.]+(m|Ki|Mi|Gi|Ti)?$"}
RESOURCES = {"type": "object", "additionalProperties": False, "properties": {
    "requests": {"type": "object", "additionalProperties": QUANTITY},
    "limits": {"type": "object", "additionalProperties": QUANTITY}}}
METADATA = {"type": "object", "required": ["name"]}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
LABEL_SELECTOR = {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": {
    "matchLabels": STRING_MAP,
    "matchExpressions": {"type": "array", "items": {
        "type": "object", "required": ["key", "operator"], "additionalProperties": False, "properties": {
            "key": {"type": "string"}, "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
            "values": {"type": "array", "items": {"type": "string"}}}}}}}
DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?"
                                         r"(([0-9]+)ms)?)$"}
SCRAPE_ENDPOINT = {"type": "object", "required": ["port"], "additionalProperties": False, "properties": {
    "port": {"type": "string"}, "path": {"type": "string", "pattern": "^/"}, "interval": DURATION,
    "scheme": {"enum": ["http", "https"]}}}
PROMETHEUS_RULE = {"type": "object", "required": ["expr"], "additionalProperties": False,
                   "oneOf": [{"required": ["alert"]}, {"required": ["record"]}], "properties": {
                       "alert": {"type": "string"}, "record": {"type": "string"},
                       "expr": {"type": ["string", "integer"]}, "for": DURATION,
                       "labels": STRING_MAP, "annotations": STRING_MAP}}
OPERATOR_SCHEMAS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): {"properties": {
        "replicas": {"type": "integer", "minimum": 1},
        "image": {"type": "string"},
        "resources": RESOURCES,
        "persistence": {"type": "object", "additionalProperties": False,
                        "properties": {"storage": QUANTITY, "storageClassName": {"type": "string"}}},
        "rabbitmq": {"type": "object", "additionalProperties": False, "properties": {
            "additionalConfig": {"type": "string"}, "additionalPlugins": {"type": "array"}}},
    }},
    ("postgresql.cnpg.io/v1", "Cluster"): {"required": ["instances", "storage"], "properties": {
        "instances": {"type": "integer", "minimum": 1},
        "imageName": {"type": "string"},
        "storage": {"type": "object", "required": ["size"], "additionalProperties": False,
                    "properties": {"size": QUANTITY, "storageClass": {"type": "string"}}},
        "resources": RESOURCES,
        "bootstrap": {"type": "object", "additionalProperties": False, "properties": {
            "initdb": {"type": "object", "additionalProperties": False, "properties": {
                "database": {"type": "string"}, "owner": {"type": "string"}}}}},
    }},
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {"required": ["selector", "endpoints"], "properties": {
        "jobLabel": {"type": "string"}, "selector": LABEL_SELECTOR,
        "endpoints": {"type": "array", "minItems": 1, "items": SCRAPE_ENDPOINT},
    }},
    ("monitoring.coreos.com/v1", "PodMonitor"): {"required": ["selector", "podMetricsEndpoints"], "properties": {
        "jobLabel": {"type": "string"}, "selector": LABEL_SELECTOR,
        "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": SCRAPE_ENDPOINT},
    }},
    ("monitoring.coreos.com/v1", "PrometheusRule"): {"required": ["groups"], "properties": {
        "groups": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["name", "rules"], "additionalProperties": False, "properties": {
                "name": {"type": "string"}, "interval": DURATION,
                "rules": {"type": "array", "minItems": 1, "items": PROMETHEUS_RULE}}}},
    }},
    ("postgresql.cnpg.io/v1", "Database"): {"required": ["name", "owner", "cluster"], "properties": {
        "name": {"type": "string"}, "owner": {"type": "string"},
        "cluster": {"type": "object", "required": ["name"], "additionalProperties": False,
                    "properties": {"name": {"type": "string"}}},
    }},
}


@pytest.mark.parametrize("path, document", [(p, d) for p, d in DOCUMENTS if d["kind"] in OPERATOR_KINDS],
                         ids=lambda value: value["kind"] + "/" + value["metadata"]["name"]
                         if isinstance(value, dict) else value.name)
def test_operator_resources_match_the_fields_their_operators_define(path, document):
    spec_schema = OPERATOR_SCHEMAS[(document["apiVersion"], document["kind"])]
    schema = {"type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
              "additionalProperties": False, "properties": {
                  "apiVersion": {}, "kind": {}, "metadata": METADATA,
                  "spec": {"type": "object", "additionalProperties": False, **spec_schema}}}
    jsonschema.validate(document, schema)


def test_the_kustomizations_list_every_manifest_and_no_secret():
    for directory in (K8S, K8S / "infra", K8S / "observability"):
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        listed = set(kustomization["resources"])
        present = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml", "jwt-keys.secret.example.yaml"}
        assert listed == present, directory
        assert kustomization["namespace"] == "course-platform"
    assert not any(doc["kind"] == "Secret" for path, doc in DOCUMENTS if path.name != "jwt-keys.secret.example.yaml")
    assert "PRIVATE KEY-----\n    (" in (K8S / "jwt-keys.secret.example.yaml").read_text()  # a placeholder


def test_kustomize_renders_both_kustomizations_with_the_image_set():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    rendered = {}
    for directory in (K8S, K8S / "infra", K8S / "observability"):
        result = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        rendered[directory] = [d for d in yaml.safe_load_all(result.stdout) if d]
        assert all(d["metadata"].get("namespace", "course-platform") == "course-platform"
                   for d in rendered[directory])
    images = {c["image"] for d in rendered[K8S] if d["kind"] == "Deployment"
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {"registry.example.com/course-platform:0.1.0"}


def deployments():
    return {runner_service(d["spec"]["template"]["spec"]["containers"][0]["command"]): d
            for _, d in DOCUMENTS if d["kind"] == "Deployment"}


def container(service):
    return deployments()[service]["spec"]["template"]["spec"]["containers"][0]


def test_each_service_in_services_has_a_deployment():
    assert set(services.SERVICES) <= set(deployments())
    assert sorted(deployments()) == sorted(DEPLOYED)
    # and services/__init__.py lists every service package there is
    packages = {p.parent.name for p in (K8S.parent / "services").glob("*/service.py")}
    assert packages == set(services.SERVICES)


@pytest.mark.parametrize("service", DEPLOYED)
def test_deployment_probes_resources_and_shutdown(service):
    deployment = deployments()[service]
    pod = deployment["spec"]["template"]["spec"]
    main = container(service)
    assert deployment["metadata"]["name"] == service
    assert main["resources"]["requests"]["cpu"] and main["resources"]["requests"]["memory"]
    assert main["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["terminationGracePeriodSeconds"] >= 30
    if service == DOOR:
        assert main["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert main["livenessProbe"]["httpGet"]["path"] == "/health/live"
        drain = main["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pod["terminationGracePeriodSeconds"] > drain + 10
        assert "replicas" not in deployment["spec"]  # the HPA owns it
    else:
        for probe in ("readinessProbe", "livenessProbe"):
            assert main[probe]["exec"]["command"] == [*PROBE, service]
            assert main[probe]["timeoutSeconds"] >= 5
        migrate = pod["initContainers"][0]
        assert migrate["command"] == ["python", "-m", "services.kernel.runner", "--migrate-only", service]
        assert deployment["spec"]["replicas"] >= 2


@pytest.mark.parametrize("service", DEPLOYED)
def test_same_variables_as_compose_and_only_ones_the_code_reads(service, compose_config):
    main = container(service)
    helpers = helper_env_names(main)
    names = set(env_names(main)) - helpers
    assert names <= set(SETTINGS), f"{service} is given variables no code reads: {names - set(SETTINGS)}"
    compose_env = set(compose_config()["services"][service]["environment"])
    assert names == compose_env
    for init in deployments()[service]["spec"]["template"]["spec"].get("initContainers", []):
        assert set(env_names(init)) - helper_env_names(init) <= set(SETTINGS)


@pytest.mark.parametrize("service", DEPLOYED)
def test_signing_key_only_in_auth_and_connections_from_operator_secrets(service):
    pod = deployments()[service]["spec"]["template"]["spec"]
    key_secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    env = {e["name"]: e for e in container(service)["env"]}
    assert key_secrets == ({"jwt-signing-key"} if service == "auth" else {"jwt-public-key"})
    assert ("JWT_PRIVATE_KEY_FILE" in env) == (service == "auth")
    assert env["AMQP_URI"]["value"] == "amqp://$(AMQP_USER):$(AMQP_PASSWORD)@platform-broker:5672/"
    assert env["AMQP_USER"]["valueFrom"]["secretKeyRef"]["name"] == "platform-broker-default-user"
    if service != DOOR:
        assert env["DATABASE_URL"]["value"].endswith(f"@platform-db-rw:5432/{service}")
        assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "platform-db-app"


def test_config_map_has_every_key_the_deployments_read():
    config_map = next(d for _, d in DOCUMENTS if d["kind"] == "ConfigMap")
    for service in DEPLOYED:
        pod = deployments()[service]["spec"]["template"]["spec"]
        for c in pod["containers"] + pod.get("initContainers", []):
            for entry in c["env"]:
                ref = entry.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    assert ref["name"] == config_map["metadata"]["name"]
                    assert ref["key"] in config_map["data"], (service, ref["key"])
    assert set(config_map["data"]) <= set(SETTINGS)


def test_every_domain_service_gets_a_database():
    bootstrap = next(d for _, d in DOCUMENTS if d["kind"] == "Cluster")["spec"]["bootstrap"]["initdb"]
    databases = {d["spec"]["name"] for _, d in DOCUMENTS if d["kind"] == "Database"} | {bootstrap["database"]}
    assert databases == set(DOMAIN_SERVICES)


def test_the_door_is_exposed_with_tls_affinity_and_websocket_timeouts():
    by_kind = {d["kind"]: d for _, d in DOCUMENTS if d["metadata"]["name"] == DOOR}
    ingress, service = by_kind["Ingress"], by_kind["Service"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]
    paths = {p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {"/socket.io/", "/api/"}  # not /metrics, not /health/
    port_names = {p["name"] for p in container(DOOR)["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] in port_names
    assert service["spec"]["selector"] == deployments()[DOOR]["spec"]["selector"]["matchLabels"]
    assert by_kind["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    hpa = by_kind["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2" and hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "realtime"}
    # only the door is reachable: no other Service or Ingress
    exposed = {d["metadata"]["name"] for _, d in DOCUMENTS if d["kind"] in ("Service", "Ingress")}
    assert exposed == {DOOR}
    listen = next(e["value"] for e in container(DOOR)["env"] if e["name"] == "WEB_SERVER_ADDRESS")
    assert int(re.sub(r".*:", "", listen)) == container(DOOR)["ports"][0]["containerPort"]


def test_the_door_trusts_x_forwarded_for_from_the_cluster_network_only():
    """The ingress controller's pods are the door's only proxy: TRUSTED_PROXIES is a
    valid list of networks, none of them the whole internet."""
    import ipaddress

    from services.realtime.addresses import TrustedProxies

    config_map = next(d for _, d in DOCUMENTS if d["kind"] == "ConfigMap")["data"]
    trusted = TrustedProxies(config_map["TRUSTED_PROXIES"])
    assert trusted.networks and all(network.is_private for network in trusted.networks)
    assert ipaddress.ip_address("203.0.113.9") not in trusted
    assert "TRUSTED_PROXIES" in env_names(container(DOOR))
