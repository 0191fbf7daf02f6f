"""docker-compose.yml: valid for docker-compose itself, and naming only what exists."""
import re
import subprocess
from urllib.parse import urlparse

import pytest

import services

from services.kernel.config import SETTINGS
from tests.deployment.conftest import DEPLOYED, DOMAIN_SERVICES, DOOR, PROBE, ROOT, runner_service

pytestmark = pytest.mark.deployment


@pytest.mark.parametrize("profile", [[], ["--profile", "scale"], ["--profile", "observability"]],
                         ids=["base", "scale", "observability"])
def test_docker_compose_accepts_the_file(docker_compose, profile):
    result = subprocess.run([docker_compose, "--env-file", ".env.example", *profile, "config", "-q"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_passwords_are_required_not_defaulted(docker_compose, tmp_path):
    empty_env = tmp_path / "empty.env"
    empty_env.write_text("")
    result = subprocess.run([docker_compose, "--env-file", str(empty_env), "config", "-q"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "PASSWORD" in result.stderr


def test_every_variable_of_the_file_is_documented_in_env_example():
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    documented = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
                  if line and not line.startswith("#")}
    assert used - documented == set()
    assert documented - used == set()


def app_services(config, profile=None):
    """{compose service: platform service it runs} for every service started by the runner
    without a profile, or also with ``profile`` (docker-compose 1.x renders them all)."""
    return {name: runner_service(spec.get("command")) for name, spec in config["services"].items()
            if runner_service(spec.get("command")) and set(spec.get("profiles", [])) <= {profile}}


def test_each_platform_service_runs_once_with_a_command_that_exists(compose_config):
    running = app_services(compose_config())
    assert set(services.SERVICES) <= set(running.values())
    assert sorted(running.values()) == sorted(DEPLOYED)
    assert set(running) == set(DEPLOYED)  # named after what they run
    scaled = app_services(compose_config("--profile", "scale"), "scale")
    assert sorted(scaled.values()) == sorted(DEPLOYED + (DOOR,))


def test_services_read_only_variables_of_the_config_loader(compose_config):
    config = compose_config("--profile", "scale")
    for name in app_services(config, "scale"):
        environment = config["services"][name]["environment"]
        unknown = set(environment) - set(SETTINGS)
        assert not unknown, f"{name} is given variables no code reads: {unknown}"


def test_each_service_gets_the_shared_settings_its_code_reads(compose_config):
    """A setting given to one service (say ACCESS_TOKEN_TTL_SECONDS to auth) is given to
    every other service whose code reads it too, or they would disagree about it."""
    config = compose_config("--profile", "scale")
    given = {name: set(config["services"][name]["environment"]) for name in app_services(config, "scale")}
    passed_anywhere = set().union(*given.values())
    for name, service in app_services(config, "scale").items():
        package = ROOT / "services" / service
        source = "".join(path.read_text() for path in package.rglob("*.py"))
        read = {setting for setting in SETTINGS if f'"{setting}"' in source}
        missing = (read & passed_anywhere) - given[name]
        assert not missing, f"{name} reads {missing} but is not given them"


def test_keys_signing_key_only_in_auth_public_key_elsewhere(compose_config):
    config = compose_config("--profile", "scale")
    for name, service in app_services(config, "scale").items():
        spec = config["services"][name]
        secrets = {secret["source"] for secret in spec.get("secrets", [])}
        environment = spec["environment"]
        if service == "auth":
            assert secrets == {"jwt_signing_key"}
            assert environment["JWT_PRIVATE_KEY_FILE"] == "/run/secrets/jwt_signing_key"
        else:
            assert secrets == {"jwt_public_key"}
            assert environment["JWT_PUBLIC_KEY_FILE"] == "/run/secrets/jwt_public_key"
            assert not {"JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_FILE"} & set(environment)
    for key_file in ("jwt-signing.pem", "jwt-public.pem"):  # where the README makes them: never committed
        assert subprocess.run(["git", "check-ignore", "-q", f"deploy/secrets/{key_file}"], cwd=ROOT).returncode == 0


def test_domain_services_use_their_own_database_and_wait_for_the_infrastructure(compose_config):
    config = compose_config()
    created = set(re.findall(r"CREATE DATABASE (\w+);", (ROOT / "deploy/postgres/create-databases.sql").read_text()))
    assert created == set(DOMAIN_SERVICES)
    for name, service in app_services(config, "scale").items():
        spec = config["services"][name]
        assert spec["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        assert spec["restart"] == "unless-stopped"
        assert int(spec["environment"]["WAIT_FOR_DEPENDENCIES_SECONDS"]) > 0
        if service == DOOR:
            assert "DATABASE_URL" not in spec["environment"]
            continue
        assert spec["depends_on"]["postgres"]["condition"] == "service_healthy"
        url = urlparse(spec["environment"]["DATABASE_URL"])
        assert (url.scheme, url.hostname, url.path) == ("postgresql", "postgres", f"/{service}")
        assert urlparse(spec["environment"]["AMQP_URI"]).hostname == "rabbitmq"


def test_healthchecks_probe_the_service_itself(compose_config):
    config = compose_config("--profile", "scale")
    for name, service in app_services(config, "scale").items():
        assert config["services"][name]["healthcheck"]["test"] == ["CMD", *PROBE, service]
    for infrastructure in ("rabbitmq", "postgres"):
        assert config["services"][infrastructure]["healthcheck"]["test"]
    assert config["services"]["rabbitmq"]["hostname"] == "rabbitmq"


def test_the_door_port_is_the_one_it_listens_on(compose_config):
    config = compose_config("--profile", "scale")
    door = config["services"][DOOR]
    listen_port = door["environment"]["WEB_SERVER_ADDRESS"].rsplit(":", 1)[1]
    assert [str(port["target"]) for port in door["ports"]] == [listen_port]
    assert "ports" not in config["services"]["realtime-2"]  # reached through nginx only


def test_nginx_balances_the_doors_sticky_and_upgrades_websockets(compose_config):
    config = compose_config("--profile", "scale")
    doors = sorted(name for name, service in app_services(config, "scale").items() if service == DOOR)
    nginx = (ROOT / "deploy/nginx/realtime.conf").read_text()
    upstream = re.search(r"upstream realtime \{(.*?)\}", nginx, re.S).group(1)
    assert "ip_hash;" in upstream
    listen_port = config["services"][DOOR]["environment"]["WEB_SERVER_ADDRESS"].rsplit(":", 1)[1]
    assert sorted(re.findall(r"server (\S+):(\d+)", upstream)) == [(door, listen_port) for door in doors]
    assert "proxy_set_header Upgrade $http_upgrade;" in nginx
    assert "proxy_set_header Connection $connection_upgrade;" in nginx
    assert re.search(r"proxy_read_timeout (\d+)s", nginx) and "$request_uri" not in nginx
    mounts = config["services"]["nginx"]["volumes"]
    sources = [m["source"] if isinstance(m, dict) else m.split(":")[0] for m in mounts]
    assert any(source.endswith("deploy/nginx/realtime.conf") for source in sources)


def test_the_image_is_slim_non_root_and_without_tests():
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
    final = stages[-1]
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", dockerfile, re.M)
    assert final.startswith("${PYTHON_IMAGE} AS runtime")
    assert re.search(r"^USER 10001", final, re.M)
    assert "PYTHONUNBUFFERED=1" in final
    assert not re.search(r"gcc|build-essential|apt-get install", final)
    assert not re.search(r"^COPY .*tests", dockerfile, re.M)
    assert 'CMD ["python", "-m", "services.kernel.runner"]' in final
    # the build context: an allow-list, so var/, .venv, caches and tests never enter it
    ignore = [line for line in (ROOT / ".dockerignore").read_text().splitlines()
              if line and not line.startswith("#")]
    assert ignore[0] == "*"
    assert {line for line in ignore if line.startswith("!")} == {"!pyproject.toml", "!README.md", "!services/"}


def test_the_image_installs_the_pinned_dependencies():
    """Every runtime dependency in pyproject.toml is pinned exactly (the image installs them)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    loose = [dep for dep in project["dependencies"] if "==" not in dep and not dep.startswith("setuptools")]
    assert not loose


def test_the_doors_trust_x_forwarded_for_from_nginx_alone(compose_config):
    """nginx appends the peer it saw; the doors believe the header only from nginx's fixed
    address, so a client reaching a door directly cannot name another address."""
    import ipaddress

    from services.realtime.addresses import TrustedProxies

    config = compose_config("--profile", "scale")
    nginx = ipaddress.ip_address(config["services"]["nginx"]["networks"]["edge"]["ipv4_address"])
    subnet = ipaddress.ip_network(config["networks"]["edge"]["ipam"]["config"][0]["subnet"])
    assert nginx in subnet
    for name, service in app_services(config, "scale").items():
        if service == DOOR:
            spec = config["services"][name]
            assert "edge" in spec["networks"]
            trusted = TrustedProxies(spec["environment"]["TRUSTED_PROXIES"])
            assert nginx in trusted
            assert ipaddress.ip_address(next(subnet.hosts())) not in trusted  # the gateway: direct clients
    nginx_conf = (ROOT / "deploy/nginx/realtime.conf").read_text()
    assert nginx_conf.count("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;") == 2
