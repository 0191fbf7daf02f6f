"""Time as the platform speaks it: aware UTC datetimes inside, ISO 8601 strings outside."""
from datetime import datetime, timezone


def utcnow():
    return datetime.now(timezone.utc)


def as_utc(moment):
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def iso(moment):
    """``2024-01-20T10:30:00.123456Z``: the one format times leave a service in."""
    if moment is None:
        return None
    return as_utc(moment).isoformat().replace("+00:00", "Z")
