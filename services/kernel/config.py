"""The one config loader: environment variables in, a Nameko config dict out.

Every setting a process reads is listed here with its default, so a newcomer can see
the whole surface in one place (README "Configuration" mirrors this table).
Extensions read their values from ``container.config`` under the same names.
"""
import os

DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"

# name -> default (None: no default; the process that needs it fails clearly at start)
SETTINGS = {
    "AMQP_URI": DEFAULT_AMQP_URI,
    # each service owns its database; the stack launcher gives each process its own
    "DATABASE_URL": None,
    # RSA (RS256) or Ed25519 (EdDSA) keys in PEM: the private key only in the auth service
    "JWT_PRIVATE_KEY": None,
    "JWT_PRIVATE_KEY_FILE": None,
    "JWT_PUBLIC_KEY": None,
    "JWT_PUBLIC_KEY_FILE": None,
    "ACCESS_TOKEN_TTL_SECONDS": "900",
    "REFRESH_TOKEN_TTL_SECONDS": str(30 * 24 * 3600),
    # realtime door
    "WEB_SERVER_ADDRESS": "0.0.0.0:5000",
    # the door's own origins; by default http://localhost:PORT and http://127.0.0.1:PORT
    "PUBLIC_ORIGINS": None,
    "CORS_ALLOWED_ORIGINS": "",
    "RPC_TIMEOUT_SECONDS": "5",
    # abuse limits of the door, per process ("N/period" in the ``limits`` library's notation)
    # sustained 30 a second, with room for a burst (a seek fires many progress reports)
    "SOCKET_EVENT_RATE": "300/10 seconds",
    "MAX_CONNECTIONS_PER_USER": "20",
    "FAILED_LOGINS_PER_EMAIL": "5/minute",
    "FAILED_LOGINS_PER_ADDRESS": "30/minute",
    # every attempt counts (each costs a password hash); 20 lets a classroom behind one NAT sign up
    "REGISTRATIONS_PER_ADDRESS": "20/minute",
    "LOGINS_PER_ADDRESS": "60/minute",
    # proxies (addresses or CIDR blocks, comma-separated) whose X-Forwarded-For names the
    # client; empty: the header is ignored and the socket's peer is the client
    "TRUSTED_PROXIES": "",
    # auth service: argon2id hashes at once per process (each takes 64 MiB and both cores
    # for ~0.3 s), callers allowed to wait for one, and for how long; past that: 503
    "HASHING_CONCURRENCY": "2",
    "HASHING_QUEUE": "8",
    "HASHING_WAIT_SECONDS": "2",
    # connection state recovery: how long a dropped session (its sid, rooms and missed room
    # events) stays recoverable on any door
    "RECOVERY_WINDOW_SECONDS": "120",
    # the room log (a RabbitMQ stream): kept this long and at most this big on the broker
    "ROOM_LOG_MAX_AGE": "30m",
    "ROOM_LOG_MAX_BYTES": str(2 * 1024 ** 3),
    # room events each door keeps in memory for replay (beyond: read as not held)
    "ROOM_LOG_WINDOW_ENTRIES": "200000",
    # sockets that never authenticate: an Engine.IO session whose Socket.IO CONNECT has not
    # come within this long is closed; at most this many such sessions per client address
    "CONNECT_TIMEOUT_SECONDS": "10",
    "PENDING_CONNECTIONS_PER_ADDRESS": "50",
    # connections one door process takes; past it handshakes get 503 (a balancer tries another)
    "MAX_CONNECTIONS": "20000",
    # Engine.IO pings: a silent client is noticed after interval + timeout
    "SOCKET_PING_INTERVAL_SECONDS": "25",
    "SOCKET_PING_TIMEOUT_SECONDS": "20",
    # how often the door hands the progress it coalesced to the progress service; a SIGKILL
    # loses at most this much of the latest positions (SIGTERM flushes them)
    "PROGRESS_FLUSH_SECONDS": "0.25",
    # concurrent Nameko workers per process; empty: WORKER_POOLS below
    "MAX_WORKERS": "",
    "LOG_LEVEL": "INFO",
    # containers: how long the runner waits for RabbitMQ and the database before giving
    # up (0: not at all; ``make run`` checks the broker itself before starting anything)
    "WAIT_FOR_DEPENDENCIES_SECONDS": "0",
    # the launcher's pid (set by services/stack.py): a service whose launcher died (a test run
    # killed by its timeout, a ``make run`` killed with -9) stops itself instead of running on
    "STOP_WITH_PARENT": None,
    # the garbage collector's generation thresholds (``gc.set_threshold``); CPython's 700,10,10
    # collects the young generation every 700 allocations, which cost the door a third of its
    # CPU under progress load (docs/benchmarks.md)
    "GC_THRESHOLDS": "50000,20,10",
    # a domain service's own Prometheus metrics (the door's are at /metrics); empty: not served
    "METRICS_PORT": "9100",
    # traces go to an OTLP/HTTP collector (e.g. http://otel-collector:4318) only when this is set
    "OTEL_EXPORTER_OTLP_ENDPOINT": None,
    # tests only: each process also writes its finished spans as JSON lines into this directory
    "SPAN_FILE_DIR": None,
    # the Socket.IO Admin UI at the door's /admin/ (services/realtime/admin_ui.py): off unless
    # both are set; ADMIN_UI_MODE "production" (statistics, read-only) or "development"
    "ADMIN_UI_USERNAME": None,
    "ADMIN_UI_PASSWORD": None,
    "ADMIN_UI_MODE": "production",
    # the probe CLI: how long a health RPC may take before the probe fails
    "PROBE_TIMEOUT_SECONDS": "5",
}


# the door runs a worker per socket event and per HTTP request, mostly waiting on RPC;
# a domain service's workers each hold a database connection (pool of 10 + 20 overflow)
WORKER_POOLS = {"realtime": 500}
DEFAULT_WORKER_POOL = 30


def load_config(environ=None, service=None):
    """Return the Nameko config for this process (running ``service``), read from ``environ``."""
    environ = os.environ if environ is None else environ
    config = {name: environ.get(name, default) for name, default in SETTINGS.items()}
    config["max_workers"] = int(config["MAX_WORKERS"] or WORKER_POOLS.get(service, DEFAULT_WORKER_POOL))
    # JSON keeps RPC payloads language-neutral; datetimes travel as ISO strings
    config["serializer"] = "json"
    return config


def read_secret(config, name):
    """A PEM or other secret given inline (``NAME``) or as a file (``NAME_FILE``)."""
    inline = config.get(name)
    if inline:
        return inline.replace("\\n", "\n")
    path = config.get(f"{name}_FILE")
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    raise RuntimeError(f"{name} or {name}_FILE must be set")


def split_list(value):
    return [item.strip() for item in (value or "").split(",") if item.strip()]
