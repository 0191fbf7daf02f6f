"""Start the whole platform as separate processes: ``python -m services.stack``.

This is what ``make run`` runs, and what the stack tests start (through
:class:`Stack`), so the suite exercises the platform exactly as a developer runs it:
one OS process per service, talking over RabbitMQ, the door on ``PORT`` (5000).
``--replicas N`` (``make run REPLICAS=2``) starts N processes of every service, as a
deployment runs several replicas: the copies of a service share its RPC queue and its
database, and door ``i`` listens on ``PORT + i`` (5000, 5001, ...).
Ctrl-C or SIGTERM stops the doors first (so clients are told), then the services.
"""
import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

from services import DOMAIN_SERVICES, SERVICES
from services.kernel.reachability import broker_problem

ROOT = Path(__file__).resolve().parent.parent
DOOR = "realtime"  # the one service with an HTTP port: one port per replica


def ensure_dev_keys(directory):
    """An RSA key pair for development (RS256, see ``services.kernel.tokens.algorithm_of``),
    made once under ``directory``; a pair of another kind left there by an older version is
    made anew (development tokens are short-lived: nothing of value is signed with it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    directory = Path(directory)
    private, public = directory / "jwt-signing.pem", directory / "jwt-public.pem"
    if private.exists() and public.exists():
        key = serialization.load_pem_private_key(private.read_bytes(), password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            return private, public
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    private.chmod(0o600)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def rabbitmqctl(*args):
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def temporary_vhost(amqp_base, prefix="test"):
    """A RabbitMQ vhost of our own, removed afterwards: its AMQP URI.

    The broker at ``amqp_base`` (a URI without the vhost) must already run; the
    stack tests and the benchmark each run the platform in one, so they never see
    another run's queues (or a developer's ``make run``).
    """
    amqp_base = amqp_base.rstrip("/")
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    try:
        yield f"{amqp_base}/{name}"
    finally:
        rabbitmqctl("delete_vhost", name)


class Stack:
    """The platform's processes, started with one environment and stopped together.

    Each process is an *instance*: ``auth`` for the first copy of a service, ``auth-2``
    for the second, and so on; its output goes to ``logs/<instance>.log``. Each instance
    of a domain service serves its metrics on a port of its own (``metrics_ports``): from
    ``metrics_port`` up, or any free ones when it is None; the doors serve theirs at ``/metrics``.
    """

    def __init__(self, env, var_dir, port=5000, echo=True, replicas=1, door_replicas=None, metrics_port=None):
        self.env = dict(env)
        self.var_dir = Path(var_dir)
        self.port = port
        self.echo = echo
        self.replicas = replicas
        # the doors alone may have more copies (tests of sessions moving between doors
        # need two doors, not two of every service: a stack of 10 processes is heavy)
        self.door_replicas = door_replicas or replicas
        self.processes = {}
        self.log_dir = self.var_dir / "logs"
        domain_instances = [self.instance_name(service, index)
                            for index in range(replicas) for service in DOMAIN_SERVICES]
        self.metrics_ports = {instance: any_free_port() if metrics_port is None else metrics_port + n
                              for n, instance in enumerate(domain_instances)}

    @property
    def url(self):
        return self.urls[0]

    @property
    def urls(self):
        """One URL per door replica."""
        return [f"http://127.0.0.1:{self.port + index}" for index in range(self.door_replicas)]

    @staticmethod
    def instance_name(service, index):
        return service if index == 0 else f"{service}-{index + 1}"

    def instances(self, service):
        copies = self.door_replicas if service == DOOR else self.replicas
        return [self.instance_name(service, index) for index in range(copies)]

    def service_env(self, service, index=0):
        env = dict(self.env)
        env["DATABASE_URL"] = env.get(f"{service.upper()}_DATABASE_URL") or \
            f"sqlite:///{self.var_dir / 'data' / f'{service}.db'}"
        if service == DOOR:
            env["WEB_SERVER_ADDRESS"] = f"0.0.0.0:{self.port + index}"
        else:
            env["METRICS_PORT"] = str(self.metrics_ports[self.instance_name(service, index)])
        env["PYTHONUNBUFFERED"] = "1"
        env["STOP_WITH_PARENT"] = str(os.getpid())
        if service != "auth":
            # only the auth service ever sees the signing key
            env.pop("JWT_PRIVATE_KEY", None)
            env.pop("JWT_PRIVATE_KEY_FILE", None)
        return env

    def start(self, services=SERVICES):
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for service in services:
            for instance in self.instances(service):
                self.start_service(instance)

    def start_service(self, instance):
        """Start one instance (``auth``, ``auth-2``, ...) of a service."""
        service, _, number = instance.partition("-")
        index = int(number) - 1 if number else 0
        log_path = self.log_dir / f"{instance}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "services.kernel.runner", service],
            cwd=ROOT, env=self.service_env(service, index),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            start_new_session=True,  # Ctrl-C reaches the launcher, which stops us in order
        )
        self.processes[instance] = process
        threading.Thread(target=self._pump, args=(instance, process, log_path), daemon=True).start()
        return process

    def _pump(self, instance, process, log_path):
        with open(log_path, "a", encoding="utf-8") as log:
            for line in process.stdout:
                log.write(line)
                log.flush()
                if self.echo:
                    sys.stdout.write(f"{instance:>10} | {line}")
                    sys.stdout.flush()

    def wait_ready(self, timeout=60):
        """Until every door answers ``/health/ready`` (each checks the services behind it)."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        waiting = list(self.urls)
        while time.monotonic() < deadline:
            for instance, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{instance} exited with {process.returncode}; "
                                       f"see {self.log_dir}/{instance}.log")
            try:
                with urllib.request.urlopen(f"{waiting[0]}/health/ready", timeout=3) as response:
                    if response.status == 200:
                        waiting.pop(0)
                        if not waiting:
                            return
                        continue
            except Exception as exc:
                last = str(exc)
            time.sleep(0.25)
        raise TimeoutError(f"the platform was not ready within {timeout}s ({last}); logs in {self.log_dir}")

    def stop_service(self, instance, sig=signal.SIGTERM, timeout=15):
        self.stop_instances([instance], sig, timeout)

    def stop_instances(self, instances, sig=signal.SIGTERM, timeout=15):
        """Signal all of ``instances`` at once, then wait for each (killed after ``timeout``)."""
        running = [self.processes[i] for i in instances if i in self.processes and self.processes[i].poll() is None]
        for process in running:
            process.send_signal(sig)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop(self):
        """The doors first (their clients are told), then every other process together."""
        doors = [i for i in self.processes if i.partition("-")[0] == DOOR]
        self.stop_instances(doors)
        self.stop_instances([i for i in self.processes if i not in doors])


def port_is_free(port):
    """Whether the door could listen on ``port`` now.

    The door listens through ``eventlet.listen``, which sets ``SO_REUSEADDR``; so does this
    check, or the TIME_WAIT connections a stopped run leaves behind for a minute would count
    as "in use" when the door would bind fine. (No ``SO_REUSEPORT`` here: a door that still
    listens, with it, makes this bind fail, as it should.)
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
            return True
        except OSError:
            return False


def any_free_port():
    """A free port below the kernel's ephemeral range: between this check and the service's
    bind, no outgoing connection of another process can be given it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            ephemeral_low = int(ports.read().split()[0])
    except OSError:  # not Linux: the IANA range's start
        ephemeral_low = 49152
    for _ in range(200):
        port = random.randrange(max(1024, ephemeral_low - 12000), ephemeral_low)
        if port_is_free(port):
            return port
    raise RuntimeError("no free port below the ephemeral range")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 5000)))
    parser.add_argument("--var", default=os.environ.get("VAR_DIR", ROOT / "var"))
    parser.add_argument("--replicas", type=int, default=1, help="processes of every service (doors on PORT, PORT+1, ...)")
    args = parser.parse_args(argv)

    env = dict(os.environ)
    env.setdefault("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    problem = broker_problem(env["AMQP_URI"])
    if problem:
        print(f"{problem} Start one with 'rabbitmq-server -detached' (or "
              f"'docker run -d -p 5672:5672 rabbitmq:3'), or set AMQP_URI.", file=sys.stderr)
        return 1
    for port in range(args.port, args.port + args.replicas):
        if not port_is_free(port):
            print(f"Port {port} is already in use; stop what holds it or set PORT.", file=sys.stderr)
            return 1
    metrics_port = int(env.get("METRICS_PORT") or 9100)
    for port in range(metrics_port, metrics_port + len(DOMAIN_SERVICES) * args.replicas):
        if not port_is_free(port):
            print(f"Port {port} (the services' metrics) is already in use; stop what holds it or set METRICS_PORT.",
                  file=sys.stderr)
            return 1
    if not (env.get("JWT_PRIVATE_KEY") or env.get("JWT_PRIVATE_KEY_FILE")):
        private, public = ensure_dev_keys(Path(args.var) / "keys")
        env["JWT_PRIVATE_KEY_FILE"], env["JWT_PUBLIC_KEY_FILE"] = str(private), str(public)

    stack = Stack(env, args.var, port=args.port, replicas=args.replicas, metrics_port=metrics_port)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    stack.start()
    try:
        stack.wait_ready()
        print(f"\nThe platform is up ({args.replicas} process(es) of each of {', '.join(SERVICES)}).\n"
              + "".join(f"  HTTP API at {url}/api/v1/, Socket.IO at {url}/socket.io/, dashboard at {url}/dashboard\n"
                        for url in stack.urls)
              + "  Prometheus metrics at each door's /metrics and at "
              + ", ".join(f"{instance} :{port}" for instance, port in stack.metrics_ports.items()) + "\n"
              + f"Logs in {stack.log_dir}. Ctrl-C stops it.\n", flush=True)
        while not stopping.is_set():
            for instance, process in stack.processes.items():
                if process.poll() is not None:
                    print(f"{instance} exited with {process.returncode}; stopping the platform.", file=sys.stderr)
                    return 1
            stopping.wait(0.5)
    except KeyboardInterrupt:
        pass
    except (RuntimeError, TimeoutError) as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        print("\nStopping...", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
