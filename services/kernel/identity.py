"""Who is calling: the one caller type of the platform.

The door makes an :class:`Identity` from a verified access token
(``services.kernel.tokens``) and hands it to the domain services as an RPC argument.
It crosses RabbitMQ as a typed JSON value (kombu's ``register_type``, below), so a
domain service receives an ``Identity`` and never parses a dict itself. Only
``user_id``, ``email`` and ``role`` travel: the token's expiry and session belong to the
door's connection, not to a domain decision.
"""
from dataclasses import dataclass

from kombu.utils.json import register_type

WIRE_TYPE = "identity"


@dataclass(frozen=True)
class Identity:
    """Who a verified access token speaks for."""

    user_id: str
    email: str
    role: str
    expires_at: int = 0
    session_id: str = ""

    @property
    def is_instructor(self):
        return self.role == "instructor"


def _to_wire(identity):
    return {"user_id": identity.user_id, "email": identity.email, "role": identity.role}


def _from_wire(data):
    return Identity(user_id=data["user_id"], email=data["email"], role=data["role"])


# every process that imports this module encodes and decodes identities over RPC
register_type(Identity, WIRE_TYPE, _to_wire, _from_wire)
