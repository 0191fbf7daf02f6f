"""The deployment tier: the container, compose and Kubernetes files against the code.

What belongs here: checks of ``Dockerfile``, ``docker-compose.yml`` and ``k8s/`` that
need no cluster and no docker engine (offline schema validation, names, variables).
They are checked against the code's own lists: ``services/__init__.py`` says which
services exist, the config loader (``services/kernel/config.py``) which variables they
read. A compose file or manifest naming anything else is wrong, and these tests say where.
"""
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import services

ROOT = Path(__file__).resolve().parent.parent.parent
K8S = ROOT / "k8s"
DOOR = "realtime"
DOMAIN_SERVICES = services.DOMAIN_SERVICES
# every service docker-compose.yml and k8s/ run, the door last
DEPLOYED = DOMAIN_SERVICES + (DOOR,)

RUNNER = ["python", "-m", "services.kernel.runner"]
PROBE = ["python", "-m", "services.kernel.probe"]


def runner_service(command):
    """``auth`` for ``python -m services.kernel.runner auth``, else None."""
    if command and list(command[:3]) == RUNNER:
        return command[-1]
    return None


@pytest.fixture(scope="session")
def docker_compose():
    """The docker-compose binary (Debian's package; the Makefile installs it)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed and could not be installed "
                    "(make test runs 'apt-get install -y docker-compose' as root)")
    return binary


@pytest.fixture(scope="session")
def compose_config(docker_compose):
    """``compose_config(*args)`` -> docker-compose's own rendering of the file, as a dict."""
    def render(*args):
        result = subprocess.run([docker_compose, "--env-file", ".env.example", *args, "config"],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return yaml.safe_load(result.stdout)

    return render


def k8s_documents(directory=K8S):
    """(path, document) for every manifest under ``directory`` (kustomizations excluded)."""
    found = []
    for path in sorted(directory.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") != "Kustomization":
                found.append((path, document))
    return found


def env_names(container):
    return [entry["name"] for entry in container.get("env", [])]


def helper_env_names(container):
    """Variables that only feed another's value through ``$(NAME)`` (AMQP_USER, ...)."""
    values = " ".join(entry.get("value", "") for entry in container.get("env", []))
    return {name for name in env_names(container) if f"$({name})" in values}
