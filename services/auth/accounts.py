"""Account rules, free of Nameko and SQL: what a valid email, password and role are."""
from email_validator import EmailNotValidError, validate_email

from services.kernel.errors import ValidationFailed
from services.kernel.tokens import ROLES

MIN_PASSWORD_LENGTH = 8
# argon2 would hash a megabyte happily; a person's password is never that long
MAX_PASSWORD_LENGTH = 256


def normalise_email(raw):
    """Validated, case-folded address: ``Ann@Example.COM `` -> ``ann@example.com``."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed("email: required", "email")
    try:
        normalised = validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationFailed(f"email: {exc}", "email") from None
    return normalised.lower()


def check_password(password):
    if not isinstance(password, str):
        raise ValidationFailed("password: must be a string", "password")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"password: must be at least {MIN_PASSWORD_LENGTH} characters", "password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(f"password: must be at most {MAX_PASSWORD_LENGTH} characters", "password")
    return password


def check_role(role):
    if role not in ROLES:
        raise ValidationFailed(f"role: must be one of {', '.join(ROLES)}", "role")
    return role
