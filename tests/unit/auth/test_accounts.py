import pytest

from services.auth import accounts
from services.kernel.errors import ValidationFailed


@pytest.mark.parametrize("raw, expected", [
    ("ann@example.com", "ann@example.com"),
    ("  Ann.Lee@Example.COM ", "ann.lee@example.com"),
])
def test_emails_are_normalised(raw, expected):
    assert accounts.normalise_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "not-an-email", "a@", "@example.com", None, 42])
def test_invalid_emails_name_the_field(raw):
    with pytest.raises(ValidationFailed) as failed:
        accounts.normalise_email(raw)
    assert failed.value.field == "email"


@pytest.mark.parametrize("password", ["short", "1234567", "x" * 257, None])
def test_password_policy(password):
    with pytest.raises(ValidationFailed) as failed:
        accounts.check_password(password)
    assert failed.value.field == "password"


def test_eight_characters_is_enough():
    assert accounts.check_password("12345678") == "12345678"


@pytest.mark.parametrize("role", ["admin", "", None, "Student"])
def test_only_two_roles(role):
    with pytest.raises(ValidationFailed, match="role"):
        accounts.check_role(role)
