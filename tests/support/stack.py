"""The whole platform as real processes, in a RabbitMQ vhost of its own (tests and bench).

Each stack gets its own vhost and its own databases, so parallel runs (and a developer's
``make run``) never see each other's queues or rows.
"""
import json
import os
import socket
from contextlib import contextmanager
from pathlib import Path

from services.kernel.config import DEFAULT_AMQP_URI
from services.stack import Stack, broker_problem, port_is_free, temporary_vhost

AMQP_BASE = os.environ.get("TEST_AMQP_URI", DEFAULT_AMQP_URI).rstrip("/")
# what a test stack runs with: an origin to check CORS against, short RPC deadlines (the
# unavailability tests wait for them), every request logged (the log tests read them)
TEST_SETTINGS = {
    "CORS_ALLOWED_ORIGINS": "https://app.example.com",
    "RPC_TIMEOUT_SECONDS": "3",
    "LOG_LEVEL": "INFO",
    # every test registers and logs in its own people from 127.0.0.1; the budgets
    # themselves are tested with the defaults in test_abuse.py
    "REGISTRATIONS_PER_ADDRESS": "100000/minute",
    "LOGINS_PER_ADDRESS": "100000/minute",
}


def free_ports(count=1):
    """The first of ``count`` consecutive free ports (the doors of a stack use port + i)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            first = sock.getsockname()[1]
        if all(port_is_free(first + offset) for offset in range(count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports")


@contextmanager
def own_vhost(amqp_base=AMQP_BASE, prefix="test"):
    """A RabbitMQ vhost of our own (removed afterwards); the broker itself must already run (README)."""
    problem = broker_problem(amqp_base + "/")
    if problem:
        raise RuntimeError(f"{problem} Start it with 'rabbitmq-server -detached'.")
    with temporary_vhost(amqp_base, prefix=prefix) as amqp_uri:
        yield amqp_uri


def stack_env(amqp_uri, key_files, **settings):
    """This process's environment for a stack: its vhost, its keys, no inherited database
    URL (each stack makes its own), and ``settings`` on top."""
    private, public = key_files
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
    env.update({"AMQP_URI": amqp_uri, "JWT_PRIVATE_KEY_FILE": str(private), "JWT_PUBLIC_KEY_FILE": str(public)},
               **settings)
    return env


@contextmanager
def running_stack(amqp_uri, key_files, var_dir, replicas=1, ready_timeout=90, settings=TEST_SETTINGS,
                  door_replicas=None, **more):
    """The whole platform, started exactly as ``make run`` starts it, with ``replicas``
    processes of every service (``door_replicas`` of the door, if given); ``settings`` (a
    test stack's unless given), then ``more`` on top of them, are added to its environment."""
    doors = door_replicas or replicas
    running = Stack(stack_env(amqp_uri, key_files, **{**settings, **more}), var_dir, port=free_ports(doors),
                    echo=False, replicas=replicas, door_replicas=doors)
    running.start()
    try:
        running.wait_ready(timeout=ready_timeout)
        yield running
    finally:
        running.stop()


def log_text(stack, instance):
    """What one process (``auth``, ``auth-2``, ...) of the stack has logged so far."""
    return Path(stack.log_dir / f"{instance}.log").read_text()


def log_records(stack, instance):
    """Its log lines as JSON objects (every line a process writes is one)."""
    return [json.loads(line) for line in log_text(stack, instance).splitlines() if line.strip()]
