"""Accounts: the auth rows of API.md, and who a socket connection belongs to."""
from nameko.events import BROADCAST, event_handler

from services.kernel import events
from services.kernel.errors import RateLimited, Unauthorized
from services.realtime import schemas
from services.realtime.dispatch import Admission
from services.realtime.entrypoints import api, on_socket
from services.realtime.gateway import Gateway


class AccountsGateway(Gateway):
    @api("POST", "/api/v1/auth/register", status=201)
    def register(self, request):
        body = schemas.parse_json_body(request, schemas.RegisterBody)
        return {"user": self.auth.register(body.email, body.password, body.role)}

    @api("POST", "/api/v1/auth/login")
    def login(self, request):
        body = schemas.parse_json_body(request, schemas.LoginBody)
        # only failures count, so people who know their password are never slowed down
        windows = ((self.config["FAILED_LOGINS_PER_EMAIL"], "login-email", body.email.strip().lower()),
                   (self.config["FAILED_LOGINS_PER_ADDRESS"], "login-address", request.remote_addr or "?"))
        if not all(self.limits.has_room(*window) for window in windows):
            raise RateLimited("Too many failed logins; try again in a minute")
        try:
            return self.auth.login(body.email, body.password)
        except Unauthorized:
            for window in windows:
                self.limits.allow(*window)
            raise

    @api("POST", "/api/v1/auth/refresh")
    def refresh(self, request):
        body = schemas.parse_json_body(request, schemas.RefreshBody)
        return self.auth.refresh(body.refresh_token)

    @api("POST", "/api/v1/auth/logout")
    def logout(self, request):
        identity = self.caller(request)
        return self.auth.logout(identity.user_id, identity.session_id)

    @api("GET", "/api/v1/auth/me")
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
