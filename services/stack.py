"""Start the whole platform as separate processes: ``python -m services.stack``.

This is what ``make run`` runs, and what the integration tests start (through
:class:`Stack`), so the suite exercises the platform exactly as a developer runs it:
one OS process per service, talking over RabbitMQ, the door on ``PORT`` (5000).
Ctrl-C or SIGTERM stops the door first (so clients are told), then the services.
"""
import argparse
import os
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
from urllib.parse import urlparse

from services import SERVICES

ROOT = Path(__file__).resolve().parent.parent


def ensure_dev_keys(directory):
    """An Ed25519 key pair for development, made once under ``directory``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    directory = Path(directory)
    private, public = directory / "jwt-signing.pem", directory / "jwt-public.pem"
    if not private.exists():
        directory.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        private.chmod(0o600)
        public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def broker_problem(amqp_uri, timeout=3):
    """None if RabbitMQ answers at ``amqp_uri``, else one line saying what is wrong."""
    from kombu import Connection

    try:
        with Connection(amqp_uri, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1)
        return None
    except Exception as exc:
        return f"RabbitMQ is not answering at {_redact(amqp_uri)} ({type(exc).__name__}: {exc})."


def rabbitmqctl(*args):
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def temporary_vhost(amqp_base, prefix="test"):
    """A RabbitMQ vhost of our own, removed afterwards: its AMQP URI.

    The broker at ``amqp_base`` (a URI without the vhost) must already run; the
    integration tests and the benchmark each run the platform in one, so they never see
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


def _redact(uri):
    parts = urlparse(uri)
    return uri.replace(f":{parts.password}@", ":***@") if parts.password else uri


class Stack:
    """The platform's processes, started with one environment and stopped together."""

    def __init__(self, env, var_dir, port=5000, echo=True):
        self.env = dict(env)
        self.var_dir = Path(var_dir)
        self.port = port
        self.echo = echo
        self.processes = {}
        self.log_dir = self.var_dir / "logs"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def service_env(self, service):
        env = dict(self.env)
        env["DATABASE_URL"] = env.get(f"{service.upper()}_DATABASE_URL") or \
            f"sqlite:///{self.var_dir / 'data' / f'{service}.db'}"
        env["WEB_SERVER_ADDRESS"] = env.get("WEB_SERVER_ADDRESS", f"0.0.0.0:{self.port}")
        env["PYTHONUNBUFFERED"] = "1"
        if service != "auth":
            # only the auth service ever sees the signing key
            env.pop("JWT_PRIVATE_KEY", None)
            env.pop("JWT_PRIVATE_KEY_FILE", None)
        return env

    def start(self, services=SERVICES):
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for service in services:
            self.start_service(service)

    def start_service(self, service):
        log_path = self.log_dir / f"{service}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "services.kernel.runner", service],
            cwd=ROOT, env=self.service_env(service),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            start_new_session=True,  # Ctrl-C reaches the launcher, which stops us in order
        )
        self.processes[service] = process
        threading.Thread(target=self._pump, args=(service, process, log_path), daemon=True).start()
        return process

    def _pump(self, service, process, log_path):
        with open(log_path, "a", encoding="utf-8") as log:
            for line in process.stdout:
                log.write(line)
                log.flush()
                if self.echo:
                    sys.stdout.write(f"{service:>9} | {line}")
                    sys.stdout.flush()

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            for service, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{service} exited with {process.returncode}; see {self.log_dir}/{service}.log")
            try:
                with urllib.request.urlopen(f"{self.url}/health/ready", timeout=3) as response:
                    if response.status == 200:
                        return
            except Exception as exc:
                last = str(exc)
            time.sleep(0.25)
        raise TimeoutError(f"the platform was not ready within {timeout}s ({last}); logs in {self.log_dir}")

    def stop_service(self, service, sig=signal.SIGTERM, timeout=15):
        process = self.processes.get(service)
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self):
        for service in ["realtime"] + [s for s in self.processes if s != "realtime"]:
            self.stop_service(service)


def port_is_free(port):
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
            return True
        except OSError:
            return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 5000)))
    parser.add_argument("--var", default=os.environ.get("VAR_DIR", ROOT / "var"))
    args = parser.parse_args(argv)

    env = dict(os.environ)
    env.setdefault("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    problem = broker_problem(env["AMQP_URI"])
    if problem:
        print(f"{problem} Start one with 'rabbitmq-server -detached' (or "
              f"'docker run -d -p 5672:5672 rabbitmq:3'), or set AMQP_URI.", file=sys.stderr)
        return 1
    if not port_is_free(args.port):
        print(f"Port {args.port} is already in use; stop what holds it or set PORT.", file=sys.stderr)
        return 1
    if not (env.get("JWT_PRIVATE_KEY") or env.get("JWT_PRIVATE_KEY_FILE")):
        private, public = ensure_dev_keys(Path(args.var) / "keys")
        env["JWT_PRIVATE_KEY_FILE"], env["JWT_PUBLIC_KEY_FILE"] = str(private), str(public)

    stack = Stack(env, args.var, port=args.port)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    stack.start()
    try:
        stack.wait_ready()
        print(f"\nThe platform is up: HTTP API at {stack.url}/api/v1/, Socket.IO at {stack.url}/socket.io/"
              f" (logs in {stack.log_dir}). Ctrl-C stops it.\n", flush=True)
        while not stopping.is_set():
            for service, process in stack.processes.items():
                if process.poll() is not None:
                    print(f"{service} exited with {process.returncode}; stopping the platform.", file=sys.stderr)
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
