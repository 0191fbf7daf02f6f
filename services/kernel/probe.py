"""Probe one service from inside its container: exit 0 when healthy, 1 when not.

``python -m services.kernel.probe auth`` calls the service's ``health`` RPC over the
broker (``HealthRpc``: a round trip through RabbitMQ and a ``SELECT 1`` on the service's
own database), bounded by ``PROBE_TIMEOUT_SECONDS``. ``python -m services.kernel.probe
realtime`` asks the door on this host for ``/health/ready`` (``--live``: ``/health/live``).
Kubernetes exec probes and docker-compose healthchecks run this; it prints one line.

With several replicas the RPC is answered by whichever replica takes it from the
shared queue: the probe proves that this container reaches the broker and that the
service (some replica, with its database) answers, not that this very process does.
"""
import warnings

warnings.filterwarnings("ignore", message="\\s*Eventlet is deprecated", category=Warning)

import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import urllib.request  # noqa: E402

from services import DOMAIN_SERVICES, SERVICES  # noqa: E402
from services.kernel.config import load_config  # noqa: E402


def rpc_health(service, config, timeout):
    """None when ``service`` answers its health RPC within ``timeout``, else the problem."""
    from nameko.standalone.rpc import ClusterRpcProxy

    try:
        with eventlet.Timeout(timeout):
            with ClusterRpcProxy(config, timeout=timeout) as cluster:
                answer = getattr(cluster, service).health()
    except eventlet.Timeout:
        return f"no answer within {timeout}s"
    except BaseException as exc:  # noqa: BLE001 - any failure is "unhealthy", with its kind
        return f"{type(exc).__name__}: {exc}"
    if not isinstance(answer, dict) or answer.get("status") != "ok":
        return f"unexpected answer {answer!r}"
    return None


def http_health(config, path, timeout):
    """None when the door on this host answers ``path`` with 200, else the problem."""
    from nameko.web.server import parse_address

    _, port = parse_address(config["WEB_SERVER_ADDRESS"])
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return None if response.status == 200 else f"{url} answered {response.status}"
    except Exception as exc:  # noqa: BLE001
        return f"{url}: {exc}"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m services.kernel.probe", description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--live", action="store_true", help="the door: only check that it serves HTTP")
    args = parser.parse_args(argv)
    # one line of output: the broker client's own warnings would only bury it
    logging.disable(logging.WARNING)
    config = load_config()
    timeout = float(config["PROBE_TIMEOUT_SECONDS"])
    if args.service in DOMAIN_SERVICES:
        problem = rpc_health(args.service, config, timeout)
    else:  # the door: HTTP on this host
        problem = http_health(config, "/health/live" if args.live else "/health/ready", timeout)
    print(f"{args.service}: {problem or 'ok'}", file=sys.stderr if problem else sys.stdout)
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
