"""Checks every domain service applies to what it is sent over RPC.

The door already checked types; these check meaning (ranges, lengths, ids) where the
rule lives, and every failure names the offending field (``ValidationFailed`` -> 422).
"""
import uuid

from services.kernel.errors import NotFound, ValidationFailed


def parse_id(value, what="course"):
    """A well-formed UUID string, else the thing simply does not exist."""
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"{what} not found") from None


def text(value, field, max_length, required=True):
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field}: must be a string", field)
    value = value.strip()
    if required and not value:
        raise ValidationFailed(f"{field}: must not be empty", field)
    if len(value) > max_length:
        raise ValidationFailed(f"{field}: at most {max_length} characters", field)
    return value


def whole_number(value, field, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(f"{field}: must be a whole number from {low} to {high}", field)
    return value
