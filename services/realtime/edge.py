"""The door's HTTP edge: the envelope, the origin policy, unknown routes, the dashboard's files."""
import json
from pathlib import Path

from nameko.web.server import WsgiApp
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.shared_data import SharedDataMiddleware
from werkzeug.wrappers import Request, Response

STATIC_DIR = Path(__file__).resolve().parent / "static"


def json_response(status, body, headers=None):
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def error_body(code, message):
    return {"error": {"code": code, "message": message}}


def dashboard(app):
    """The dashboard page at ``/dashboard`` and its files under ``/static/``, in front of ``app``.

    werkzeug serves them: ``safe_join`` refuses ``..`` and absolute paths, content types
    come from the file names, and anything not a file falls through to ``app`` (a 404).
    """
    return SharedDataMiddleware(app, {
        "/dashboard": str(STATIC_DIR / "dashboard.html"),
        "/static": str(STATIC_DIR),
    })


class DoorApp(WsgiApp):
    """Nameko's URL dispatch, with unknown routes and methods answered in the envelope."""

    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, values = adapter.match()
            request.path_values = values
            response = provider.handle_request(request)
        except HTTPException as exc:
            response = json_response(exc.code, error_body(_snake(exc.name), exc.description), exc.get_headers())
            response.headers["Content-Type"] = "application/json"
        return response(environ, start_response)


def _snake(name):
    return name.lower().replace(" ", "_")


class OriginPolicy:
    """CORS for the HTTP API: no ``Origin`` or an allowed one passes, any other gets 403."""

    ALLOWED_HEADERS = "Authorization, Content-Type"
    ALLOWED_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"

    def __init__(self, app, allowed_origins):
        self.app = app
        self.allowed = set(allowed_origins)

    def __call__(self, environ, start_response):
        origin = environ.get("HTTP_ORIGIN")
        if origin is None:
            return self.app(environ, start_response)
        if origin not in self.allowed:
            refusal = json_response(403, error_body("forbidden", f"Origin {origin} is not allowed"))
            return refusal(environ, start_response)
        cors = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        if environ.get("REQUEST_METHOD") == "OPTIONS":
            cors += [("Access-Control-Allow-Methods", self.ALLOWED_METHODS),
                     ("Access-Control-Allow-Headers", self.ALLOWED_HEADERS),
                     ("Access-Control-Max-Age", "600")]
            return Response(status=204, headers=cors)(environ, start_response)

        def start_with_cors(status, headers, exc_info=None):
            return start_response(status, list(headers) + cors, exc_info)

        return self.app(environ, start_with_cors)
