import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.kernel.errors import BadRequest, MissingParameters, ValidationFailed
from services.realtime import schemas


def request_with(data, content_type="application/json"):
    return Request(EnvironBuilder(method="POST", data=data, content_type=content_type).get_environ())


def test_a_valid_body_parses():
    body = schemas.parse_json_body(request_with('{"email": "a@b.co", "password": "12345678"}'), schemas.LoginBody)
    assert body.email == "a@b.co"


@pytest.mark.parametrize("raw, error, field", [
    ("{", BadRequest, None),
    ("[]", ValidationFailed, None),
    ('{"email": "a@b.co"}', MissingParameters, "password"),
    ('{"email": 1, "password": "12345678"}', ValidationFailed, "email"),
    ('{"email": "a@b.co", "password": "12345678", "extra": 1}', ValidationFailed, "extra"),
])
def test_bad_bodies_are_typed_errors_naming_the_field(raw, error, field):
    with pytest.raises(error) as failed:
        schemas.parse_json_body(request_with(raw), schemas.LoginBody)
    assert failed.type is error
    if field:
        assert failed.value.field == field and field in failed.value.message


def test_an_empty_body_reports_every_missing_field():
    with pytest.raises(MissingParameters, match="email, password"):
        schemas.parse_json_body(request_with(""), schemas.LoginBody)
