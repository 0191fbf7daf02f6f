"""Accounts: the auth rows of API.md, and who a socket connection belongs to."""
from services.realtime import schemas
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
        return self.auth.login(body.email, body.password)

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
        identity = self.tokens.verify(client.token)
        self.sockets.accept(client.sid, identity)
        return {"status": "Connected successfully", "user_id": identity.user_id}
