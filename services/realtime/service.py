"""The realtime service: every HTTP route, socket event and room broadcast of the door.

Thin on purpose: each entrypoint checks the caller, calls a backing service over RPC
or a rule module, and returns. The door mechanics live in ``door.py`` and
``entrypoints.py``; the rules of rooms and rates in plain modules beside this one.
"""
import eventlet

from services.kernel.errors import Unauthorized, Unavailable
from services.kernel.rpc import RpcClient
from services.kernel.tokens import bearer_token
from services.realtime import schemas
from services.realtime.dependencies import Sockets, Tokens
from services.realtime.entrypoints import api, on_socket

# each must answer its ``health`` RPC for the door to be ready
BACKING_SERVICES = ("auth",)


class RealtimeService:
    name = "realtime"

    sockets = Sockets()
    tokens = Tokens()
    auth = RpcClient("auth")

    def identity(self, request):
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            raise Unauthorized("Missing bearer token")
        return self.tokens.verify(token)

    # -- health -----------------------------------------------------------------

    @api("GET", "/health/live")
    def live(self, request):
        return {"status": "ok"}

    @api("GET", "/health/ready")
    def ready(self, request):
        def check(service):
            try:
                getattr(self, service).health(timeout=2)
                return service, "ok"
            except Exception as exc:  # any failure means "not ready", with the reason
                return service, str(exc) or type(exc).__name__

        checks = dict(eventlet.GreenPool().imap(check, BACKING_SERVICES))
        if any(state != "ok" for state in checks.values()):
            raise Unavailable("not ready: " + ", ".join(f"{s}: {c}" for s, c in checks.items() if c != "ok"))
        return {"status": "ready", "services": checks}

    # -- auth -------------------------------------------------------------------

    @api("POST", "/api/v1/auth/register", status=201)
    def register(self, request):
        body = schemas.parse_json_body(request, schemas.RegisterBody)
        return {"user": self.auth.register(body.email, body.password, body.role)}

    @api("POST", "/api/v1/auth/login")
    def login(self, request):
        body = schemas.parse_json_body(request, schemas.LoginBody)
        return self.auth.login(body.email, body.password)

    @api("POST", "/api/v1/auth/refresh")
    def refresh(self, request):
        body = schemas.parse_json_body(request, schemas.RefreshBody)
        return self.auth.refresh(body.refresh_token)

    @api("POST", "/api/v1/auth/logout")
    def logout(self, request):
        identity = self.identity(request)
        return self.auth.logout(identity.user_id, identity.session_id)

    @api("GET", "/api/v1/auth/me")
    def me(self, request):
        return {"user": self.auth.get_user(self.identity(request).user_id)}

    # -- socket lifecycle -------------------------------------------------------

    @on_socket("connect", reply="connected")
    def connect(self, client, _data):
        identity = self.tokens.verify(client.token)
        self.sockets.accept(client.sid, identity)
        return {"status": "Connected successfully", "user_id": identity.user_id}
