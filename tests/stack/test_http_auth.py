"""The auth rows of API.md, through the door on the real stack."""
import uuid

import pytest

from tests.support import forge


def test_register_login_me(api):
    email = f"Mixed.Case-{uuid.uuid4().hex[:6]}@Example.com"
    created = api.call("POST", "/api/v1/auth/register",
                       json={"email": email, "password": "correct horse", "role": "instructor"})
    assert created.status_code == 201
    user = created.json()["data"]["user"]
    assert user["email"] == email.lower() and user["role"] == "instructor"
    assert set(user) == {"id", "email", "role", "created_at"}

    login = api.call("POST", "/api/v1/auth/login", json={"email": email, "password": "correct horse"})
    assert login.status_code == 200
    data = login.json()["data"]
    assert data["token_type"] == "Bearer" and data["expires_in"] == 900 and data["user"] == user
    assert "password" not in login.text

    me = api.call("GET", "/api/v1/auth/me", token=data["access_token"])
    assert me.status_code == 200 and me.json() == {"data": {"user": user}}


def test_role_defaults_to_student(api):
    email, password = api.register()
    assert api.login(email, password)["user"]["role"] == "student"


def test_a_second_registration_conflicts(api):
    email, _ = api.register()
    again = api.call("POST", "/api/v1/auth/register", json={"email": email.upper(), "password": "another one"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


@pytest.mark.parametrize("body, status, field", [
    ({"email": "nope", "password": "correct horse"}, 422, "email"),
    ({"email": "a@example.com", "password": "short"}, 422, "password"),
    ({"email": "a@example.com", "password": "correct horse", "role": "admin"}, 422, "role"),
    ({"email": "a@example.com", "password": 12345678}, 422, "password"),
    ({"email": "a@example.com"}, 422, "password"),
    ({"email": "a@example.com", "password": "correct horse", "is_admin": True}, 422, "is_admin"),
    ([1, 2], 422, "body"),
])
def test_bad_registrations_name_the_field(api, body, status, field):
    response = api.call("POST", "/api/v1/auth/register", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert field in error["message"] and set(error) == {"code", "message"}


def test_malformed_json_is_a_400(api):
    response = api.call("POST", "/api/v1/auth/login", data="{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "bad_request", "message": "body: not valid JSON"}


def test_wrong_password_is_401_without_detail(api):
    email, _ = api.register()
    response = api.call("POST", "/api/v1/auth/login", json={"email": email, "password": "wrong password"})
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid email or password"


def test_refresh_rotates_and_reuse_revokes_the_session(api):
    first = api.new_user()
    rotated = api.call("POST", "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    second = rotated.json()["data"]
    assert second["refresh_token"] != first["refresh_token"]
    assert api.call("GET", "/api/v1/auth/me", token=second["access_token"]).status_code == 200

    reused = api.call("POST", "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401 and "reuse" in reused.json()["error"]["message"]
    after = api.call("POST", "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401


def test_logout_revokes_the_refresh_token(api):
    session = api.new_user()
    out = api.call("POST", "/api/v1/auth/logout", token=session["access_token"])
    assert out.status_code == 200
    refused = api.call("POST", "/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert refused.status_code == 401


def test_me_needs_an_access_token(api, private_key_pem, public_key_pem):
    session = api.new_user()
    missing = api.call("GET", "/api/v1/auth/me")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    refresh_as_access = api.call("GET", "/api/v1/auth/me", token=session["refresh_token"])
    assert refresh_as_access.status_code == 401
    for kind, token in forge.forgeries(private_key_pem, public_key_pem).items():
        response = api.call("GET", "/api/v1/auth/me", token=token)
        assert response.status_code == 401, kind
        assert response.json()["error"]["message"] == "Invalid token", kind
    expired = forge.sign(private_key_pem, forge.claims(iat=1, exp=2))
    response = api.call("GET", "/api/v1/auth/me", token=expired)
    assert response.status_code == 401 and response.json()["error"]["code"] == "token_expired"


def test_unknown_routes_and_methods_answer_in_the_envelope(api):
    missing = api.call("GET", "/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong_method = api.call("DELETE", "/api/v1/auth/login")
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()


def test_origins(api):
    allowed = api.call("POST", "/api/v1/auth/login", json={}, headers={"Origin": "https://app.example.com"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    own = api.call("GET", "/health/live", headers={"Origin": api.base_url.replace("127.0.0.1", "localhost")})
    assert own.status_code == 200
    preflight = api.call("OPTIONS", "/api/v1/auth/login", headers={"Origin": "https://app.example.com"})
    assert preflight.status_code == 204 and "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    foreign = api.call("POST", "/api/v1/auth/login", json={}, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "forbidden"


def test_health(api):
    assert api.call("GET", "/health/live").json() == {"data": {"status": "ok"}}
    ready = api.call("GET", "/health/ready")
    assert ready.status_code == 200 and ready.json()["data"]["services"]["auth"] == "ok"
