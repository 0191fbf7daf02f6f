"""Who asks: the caller the door verified, handed to a domain service over RPC.

The door sends ``{"user_id", "email", "role"}`` (or None for an anonymous caller);
every domain service reads it back with :meth:`Actor.from_dict`.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who asks: taken by the door from a verified access token, passed over RPC."""

    user_id: str
    email: str
    role: str

    @classmethod
    def from_dict(cls, data):
        if not data:
            return None
        return cls(user_id=data["user_id"], email=data["email"], role=data["role"])

    @property
    def is_instructor(self):
        return self.role == "instructor"
