"""Password hashing and token minting: the auth service's secrets live here and only here."""
import hashlib
import os
import secrets
import uuid
from collections import deque
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from eventlet import patcher, tpool
from eventlet.event import Event

from services.kernel.errors import Overloaded
from services.kernel.tokens import algorithm_of


class HashingBudget:
    """Password hashes run at most ``concurrency`` at a time; past that, refuse rather than pile up.

    A caller that finds every turn taken waits in a queue of at most ``queue`` callers, for
    at most ``wait_seconds`` (below the door's RPC deadline, so its answer still arrives);
    one that finds the queue full, or waits too long, is refused with ``Overloaded``
    (503 and ``Retry-After``). Logins (``urgent``) have a queue of their own that is
    served first: a registration flood that gets past the per-address limits slows
    registrations down, never the people who already have an account.

    Why: each argon2id hash (argon2-cffi's defaults: 64 MiB, t=3, 4 lanes) takes about
    0.3 s of both cores here, and runs in eventlet's thread pool (``tpool``, 20 threads,
    unbounded queue). Unbounded, 40 concurrent hashes raised a process to 1.28 GB
    (20 x 64 MiB; the pod's limit is 384 MiB) for no more throughput than 2 at a time
    (about 5 hashes a second either way), and every RPC worker ended up waiting for a
    hash, so token refreshes queued behind registrations. With the budget, hashing holds
    at most ``concurrency + 2 * queue`` workers; the rest of the pool serves the other
    RPCs (docs/reliability.md, "hashing budget").
    """

    def __init__(self, concurrency=2, queue=8, wait_seconds=2.0):
        self.concurrency, self.queue, self.wait_seconds = int(concurrency), int(queue), float(wait_seconds)
        if self.concurrency < 1 or self.queue < 0 or self.wait_seconds <= 0:
            raise RuntimeError("HASHING_CONCURRENCY must be at least 1, HASHING_QUEUE at least 0 and "
                               "HASHING_WAIT_SECONDS above 0")
        self.free = self.concurrency
        self._urgent, self._normal = deque(), deque()  # waiters' events, first come first served

    @property
    def waiting(self):
        return len(self._urgent) + len(self._normal)

    def refuse_if_full(self, urgent=False):
        """Refuse now what ``run`` would refuse, before the caller does other work for it."""
        if not (self.free and not self.waiting) and len(self._urgent if urgent else self._normal) >= self.queue:
            raise Overloaded("Too many sign-ins at once; try again in a moment", self.wait_seconds)

    def run(self, function, *args, urgent=False):
        self._take_turn(self._urgent if urgent else self._normal)
        try:
            # a real OS thread: argon2 releases the GIL, and the event loop keeps serving
            return tpool.execute(at_hashing_priority, function, *args)
        finally:
            self._give_turn()

    def _take_turn(self, line):
        self.refuse_if_full(urgent=line is self._urgent)
        if self.free and not self.waiting:
            self.free -= 1
            return
        turn = Event()
        line.append(turn)
        try:
            turn.wait(self.wait_seconds)
        except BaseException:  # the worker was killed while it waited
            self._leave(line, turn)
            raise
        if not turn.ready():  # timed out; a granted turn has been sent (even if the timer woke us first)
            self._leave(line, turn)
            raise Overloaded("Too many sign-ins at once; try again in a moment", self.wait_seconds)

    def _leave(self, line, turn):
        if turn.ready():
            self._give_turn()  # granted after all: pass it on
        else:
            line.remove(turn)

    def _give_turn(self):
        line = self._urgent or self._normal
        if line:
            line.popleft().send(True)  # the turn passes on directly: nobody can cut in
        else:
            self.free += 1


# The nice value of the threads that hash. argon2 starts a thread per lane (4), so two
# hashes are 8 busy threads: at the event loop's priority they took 8/9 of a core from
# it, and a token refresh waited 0.7 s for CPU (docs/reliability.md). Niced, they take
# what the loop leaves; a nice value only matters while something else wants the CPU.
HASHING_NICENESS = 10
_os_threading = patcher.original("threading")


def at_hashing_priority(function, *args):
    """Run ``function`` in this OS thread (and the lane threads argon2 starts from it) niced."""
    thread = _os_threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, thread) < HASHING_NICENESS:
            os.setpriority(os.PRIO_PROCESS, thread, HASHING_NICENESS)  # per thread on Linux
    except OSError:
        pass  # not Linux (a thread id is no process id there): hash at the usual priority
    return function(*args)


class Passwords:
    """argon2id hashing within a :class:`HashingBudget`, off the event loop."""

    def __init__(self, hasher=None, budget=None):
        self._hasher = hasher or PasswordHasher()
        self._budget = budget or HashingBudget()
        # verifying against this when the email is unknown keeps timing uniform,
        # so a login attempt cannot tell registered addresses from others
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    def refuse_if_full(self):
        """503 now for a new password that would not get a turn: before any database work."""
        self._budget.refuse_if_full()

    def hash(self, password):
        return self._budget.run(self._hasher.hash, password)

    def verify(self, password_hash, password):
        try:
            verified = self._budget.run(self._hasher.verify, password_hash or self._decoy, password, urgent=True)
            return verified and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    expires_in: int


class TokenIssuer:
    def __init__(self, private_key_pem, access_ttl_seconds):
        self._key = load_pem_private_key(private_key_pem.encode(), password=None)
        self._algorithm = algorithm_of(self._key)
        self.access_ttl = int(access_ttl_seconds)

    def access_token(self, user, session_id, now):
        issued_at = int(now.timestamp())
        claims = {
            "sub": user.id,
            "email": user.email,
            "role": user.role,
            "type": "access",
            "sid": session_id,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + self.access_ttl,
            "jti": uuid.uuid4().hex,
        }
        return IssuedAccessToken(jwt.encode(claims, self._key, algorithm=self._algorithm), self.access_ttl)


def new_refresh_token():
    """An opaque refresh token and the hash we store (the token itself is never stored)."""
    token = secrets.token_urlsafe(32)
    return token, refresh_token_hash(token)


def refresh_token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()
