"""Accounts: the auth rows of API.md, and who a socket connection belongs to."""
from nameko.events import BROADCAST, event_handler

from services.kernel import events
from services.kernel.errors import RateLimited, Unauthorized
from services.realtime import answers, schemas
from services.realtime.dispatch import Admission
from services.realtime.entrypoints import ANYONE, USER, api, on_socket
from services.realtime.gateway import Gateway


class AccountsGateway(Gateway):
    # Registering and logging in each cost a password hash in the auth service (~0.3 s of
    # both cores): every attempt counts against its address, and one past the budget is
    # answered here, before any RPC, so nothing is hashed for it.

    @api("POST", "/api/v1/auth/register", status=201, summary="Create an account", callers=ANYONE,
         answer=answers.UserAnswer, body=schemas.RegisterBody, errors=(400, 409, 422, 429, 503), tag="auth")
    def register(self, request):
        body = schemas.parse_json_body(request, schemas.RegisterBody)
        self.spend(self.config["REGISTRATIONS_PER_ADDRESS"], "register-address", self.client_address(request),
                   "Too many registrations from this address; try again later")
        return {"user": self.auth.register(body.email, body.password, body.role)}

    @api("POST", "/api/v1/auth/login", summary="Log in: an access token and a refresh token", callers=ANYONE,
         answer=answers.Session, body=schemas.LoginBody, errors=(400, 401, 422, 429, 503), tag="auth")
    def login(self, request):
        body = schemas.parse_json_body(request, schemas.LoginBody)
        address = self.client_address(request)
        # failures also count per email (guessing one password from many addresses); they
        # are counted once the answer is known, so here only their room is checked
        failures = ((self.config["FAILED_LOGINS_PER_EMAIL"], "login-email", body.email.strip().lower()),
                    (self.config["FAILED_LOGINS_PER_ADDRESS"], "login-address", address))
        for window in failures:
            if not self.limits.has_room(*window):
                raise RateLimited("Too many failed logins; try again later", self.limits.retry_after(*window))
        self.spend(self.config["LOGINS_PER_ADDRESS"], "login-any", address,
                   "Too many logins from this address; try again later")
        try:
            return self.auth.login(body.email, body.password)
        except Unauthorized:
            for window in failures:
                self.limits.allow(*window)
            raise

    def spend(self, rule, window, address, message):
        """Count one attempt of ``rule`` for ``address``, or refuse it with 429 and Retry-After."""
        if not self.limits.allow(rule, window, address):
            raise RateLimited(message, self.limits.retry_after(rule, window, address))

    @api("POST", "/api/v1/auth/refresh", summary="Trade a refresh token for a new pair", callers=ANYONE,
         answer=answers.Session, body=schemas.RefreshBody, errors=(400, 401, 422), tag="auth",
         description="The old refresh token stops working; reusing it revokes the whole session.")
    def refresh(self, request):
        body = schemas.parse_json_body(request, schemas.RefreshBody)
        return self.auth.refresh(body.refresh_token)

    @api("POST", "/api/v1/auth/logout", summary="Revoke the refresh tokens of this session", callers=USER,
         answer=answers.LoggedOut, errors=(401,), tag="auth")
    def logout(self, request):
        identity = self.caller(request)
        return self.auth.logout(identity.user_id, identity.session_id)

    @api("GET", "/api/v1/auth/me", summary="Who the token belongs to", callers=USER, answer=answers.UserAnswer,
         errors=(401, 404), tag="auth")
    def me(self, request):
        return {"user": self.auth.get_user(self.caller(request).user_id)}

    @on_socket("connect", reply="connected")
    def connect(self, client, _data):
        """Who connects; the door then gives them a session (or resumes theirs) and greets them."""
        identity = self.verified(client.token)
        return Admission(identity, {"status": "Connected successfully", "user_id": identity.user_id})

    # every door replica hears this (BROADCAST): each ends its own clients of that session;
    # nothing is emitted through the room manager, so nobody gets copies
    @event_handler(*events.SESSION_REVOKED, handler_type=BROADCAST, reliable_delivery=False)
    def on_session_revoked(self, event):
        self.revoked_sessions[event["session_id"]] = True
        self.sockets.end_session(event["session_id"], "Session ended: logged out or revoked")
