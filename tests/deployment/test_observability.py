"""deploy/observability/ and k8s/observability/: a Grafana dashboard Grafana's own model
accepts, alert rules promtool accepts and whose thresholds fire, and only metrics the
code registers (or RabbitMQ's plugin and Prometheus itself provide)."""
import copy
import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard
from prometheus_client import REGISTRY

import services
from services.kernel.config import SETTINGS
from tests.deployment.conftest import DOOR, K8S, ROOT, k8s_documents

pytestmark = pytest.mark.deployment

OBSERVABILITY = ROOT / "deploy" / "observability"
DASHBOARD = OBSERVABILITY / "grafana" / "dashboards" / "course-platform.json"
PROMETHEUS = OBSERVABILITY / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"

# metrics that come from elsewhere than our code: Prometheus's own ``up``, and RabbitMQ's
# rabbitmq_prometheus plugin (per-object endpoint, see its documentation's metric list)
EXTERNAL_METRICS = {"up", "rabbitmq_queue_messages_ready", "rabbitmq_queue_messages_unacked"}

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                "offset", "le", "inf", "nan"}


def metric_names(expr):
    """The metric names a PromQL expression reads (functions, label names and keywords left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # range selectors
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        following = expr[match.end():].lstrip()
        if following.startswith("(") or match.group().lower() in PROMQL_WORDS:
            continue  # a function or aggregation, or a keyword
        names.add(match.group())
    return names


def test_metric_names_are_read_from_promql_as_prometheus_would():
    assert metric_names('histogram_quantile(0.99, sum by (le, service) (rate(a_bucket{x="y(z)"}[5m]))) > 1') == \
        {"a_bucket"}
    assert metric_names("sum(rate(b_total[1m])) / on (job) group_left c or vector(0)") == {"b_total", "c"}


def registered_metrics():
    """Every sample name this code's processes can expose (all services imported, as at run time)."""
    for service in services.SERVICES:
        importlib.import_module(f"services.{service}.service")
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
                "summary": ("_count", "_sum", "_created"), "gauge": ("",), "info": ("_info",)}
    return {family.name + suffix for family in REGISTRY.collect()
            for suffix in suffixes.get(family.type, ("",))}


def dashboard_targets(dashboard):
    return [target for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_rules():
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def test_the_dashboard_and_the_alerts_name_only_metrics_that_exist():
    known = registered_metrics() | EXTERNAL_METRICS
    used = {}
    for target in dashboard_targets(json.loads(DASHBOARD.read_text())):
        for name in metric_names(target["expr"]):
            used.setdefault(name, f"dashboard: {target['expr']}")
    for rule in alert_rules():
        for name in metric_names(rule["expr"]):
            used.setdefault(name, f"alert {rule['alert']}")
    unknown = {name: where for name, where in used.items() if name not in known}
    assert not unknown, f"metrics no code registers: {unknown}"
    # and the panels the issue asks for are there, each on a metric of ours
    assert {"realtime_connections", "realtime_rooms", "realtime_socket_events_received_total",
            "realtime_socket_events_sent_total", "realtime_rpc_duration_seconds_bucket",
            "service_event_lag_seconds_bucket", "realtime_errors_total", "realtime_progress_buffer_reports",
            "rabbitmq_queue_messages_ready"} <= set(used)


def grafana_round_trip(document):
    register_default_plugins()
    return json.loads(json.dumps(Dashboard.from_json(document), cls=JSONEncoder))


def lost_in(original, parsed, path=""):
    """Paths of ``original`` that Grafana's model does not carry (an unknown or misplaced key)."""
    if isinstance(original, dict):
        return [lost for key, value in original.items()
                for lost in ([f"{path}/{key}"] if key not in parsed else lost_in(value, parsed[key], f"{path}/{key}"))]
    if isinstance(original, list):
        return [lost for index, (a, b) in enumerate(zip(original, parsed)) for lost in lost_in(a, b, f"{path}[{index}]")]
    return [] if original == parsed else [f"{path} (changed)"]


def test_the_dashboard_is_grafana_dashboard_json():
    dashboard = json.loads(DASHBOARD.read_text())
    # Grafana's own dashboard model (grafana-foundation-sdk, generated from Grafana's schema)
    # carries every key: a misspelt or misplaced field would be dropped and show here
    assert lost_in(dashboard, grafana_round_trip(dashboard)) == []
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        area = {(grid["x"] + dx, grid["y"] + dy) for dx in range(grid["w"]) for dy in range(grid["h"])}
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
        if panel["type"] != "row":
            assert panel["targets"] and all(t["expr"] and t["refId"] for t in panel["targets"]), panel["title"]
    datasource = yaml.safe_load((OBSERVABILITY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    assert {p["datasource"]["uid"] for p in panels if p["type"] != "row"} == {uid}


def test_the_round_trip_catches_a_misplaced_field():
    dashboard = json.loads(DASHBOARD.read_text())
    broken = copy.deepcopy(dashboard)
    panel = next(p for p in broken["panels"] if p["type"] == "timeseries")
    panel["targets"][0]["query"] = panel["targets"][0].pop("expr")  # expr is Prometheus's field
    panel["gridpos"] = panel.pop("gridPos")
    assert len(lost_in(broken, grafana_round_trip(broken))) == 2


@pytest.fixture(scope="session")
def promtool():
    """promtool from Debian's prometheus package (``make deploy-tools`` puts it in .venv/bin)."""
    binary = shutil.which("promtool") or (ROOT / ".venv" / "bin" / "promtool")
    if not shutil.which(str(binary)):
        pytest.skip("promtool is not installed (make deploy-tools extracts it from Debian's prometheus package)")
    return str(binary)


def run(*command, cwd=PROMETHEUS):
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_rules_and_the_prometheus_config(promtool):
    checked = run(promtool, "check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in checked.stdout
    config = run(promtool, "check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_each_alert_fires_past_its_threshold_and_not_below(promtool):
    tested = run(promtool, "test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    covered = set(re.findall(r"alertname: (\w+)", (PROMETHEUS / "alerts.test.yml").read_text()))
    assert {"DoorDown", "RpcLatencyHigh", "EventLagHigh", "DoorErrorRate", "RecoveryWindowPressure"} <= covered


def test_every_domain_service_is_watched_for_being_down():
    down = next(rule for rule in alert_rules() if rule["alert"] == "ServiceMetricsDown")
    jobs = re.fullmatch(r'up\{job=~"([a-z|]+)"\} == 0', down["expr"]).group(1).split("|")
    assert sorted(jobs) == sorted(services.DOMAIN_SERVICES)


def test_promtool_notices_a_broken_rule(promtool, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(ALERTS.read_text().replace("> 1\n", "> > 1\n", 1))
    assert run(promtool, "check", "rules", str(broken)).returncode != 0


OBSERVABILITY_DOCUMENTS = k8s_documents(K8S / "observability")


def test_the_prometheus_rule_on_kubernetes_is_the_alerts_file(promtool, tmp_path):
    rule = next(d for _, d in OBSERVABILITY_DOCUMENTS if d["kind"] == "PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]
    extracted = tmp_path / "rules.yml"
    extracted.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    assert run(promtool, "check", "rules", str(extracted)).returncode == 0


def test_the_monitors_select_the_platforms_pods_and_ports():
    platform = {(d["kind"], d["metadata"]["name"]): d for _, d in k8s_documents()}
    door_monitor = next(d for _, d in OBSERVABILITY_DOCUMENTS
                        if d["kind"] == "ServiceMonitor" and d["metadata"]["name"] == DOOR)
    door_service = platform[("Service", DOOR)]
    assert door_monitor["spec"]["selector"]["matchLabels"].items() <= door_service["metadata"]["labels"].items()
    assert door_monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in door_service["spec"]["ports"]}
    assert door_monitor["spec"]["endpoints"][0]["path"] == "/metrics"

    pod_monitor = next(d for _, d in OBSERVABILITY_DOCUMENTS if d["kind"] == "PodMonitor")
    (expression,) = pod_monitor["spec"]["selector"]["matchExpressions"]
    assert expression["key"] == "app.kubernetes.io/name" and sorted(expression["values"]) == sorted(
        services.DOMAIN_SERVICES)
    port = pod_monitor["spec"]["podMetricsEndpoints"][0]["port"]
    for service in services.DOMAIN_SERVICES:
        pod = platform[("Deployment", service)]["spec"]["template"]
        assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == service
        ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
        assert ports[port] == int(SETTINGS["METRICS_PORT"])


def test_the_compose_profile_scrapes_every_service_and_provisions_the_dashboard(compose_config):
    config = compose_config("--profile", "observability")["services"]
    scrape = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]
    targets = {job["job_name"]: [t for c in job.get("static_configs", []) for t in c["targets"]] for job in scrape}
    for service in services.DOMAIN_SERVICES:
        assert targets[service] == [f"{service}:{SETTINGS['METRICS_PORT']}"]
        assert service in config
    door = next(job for job in scrape if job["job_name"] == DOOR)
    assert door["dns_sd_configs"][0]["port"] == 5000 and door["metrics_path"] == "/metrics"
    assert "rabbitmq_prometheus" in (ROOT / "deploy/rabbitmq/enabled_plugins").read_text()
    for name in ("prometheus", "grafana", "jaeger"):
        assert config[name]["profiles"] == ["observability"]
        mounted = [volume.split(":")[0] for volume in config[name].get("volumes", [])]
        assert all(Path(source).exists() for source in mounted if source.startswith("/")), mounted
    grafana_mounts = {v.split(":")[1]: Path(v.split(":")[0]) for v in config["grafana"]["volumes"]}
    assert grafana_mounts["/var/lib/grafana/dashboards"] == DASHBOARD.parent
    assert config["realtime"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == ""
