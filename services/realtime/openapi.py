"""The HTTP API of API.md as an OpenAPI 3.1 document (served at ``/api/v1/openapi.json``).

Generated from the door's own routes: every ``@api`` entrypoint carries its summary,
callers, status, errors and body and answer models (``entrypoints.ApiEndpoint``), and
this module only lays them out. Nothing here is a hand-written JSON Schema either:
request bodies are the very models the door validates with (``schemas.py``) and the
answers are the models of ``answers.py``, so pydantic emits every schema.

OpenAPI 3.1 uses JSON Schema 2020-12, which is what pydantic emits.
"""
import re
from functools import cache

from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from pydantic.json_schema import models_json_schema

from services.realtime import schemas
from services.realtime.answers import CursorMeta, ErrorAnswer, Meta
from services.realtime.entrypoints import ANYONE, INSTRUCTOR, STUDENT, USER, ApiEndpoint

REF = "#/components/schemas/{model}"
TAGS = ("auth", "courses", "progress", "quizzes", "chat", "health", "docs")
ROUTE_ORDER = ("health", "docs", "auth", "courses", "progress", "quizzes", "chat")  # of the paths in the document


def routes(service_cls=None):
    """The ``@api`` entrypoints of the door, grouped by tag in ``ROUTE_ORDER``, then as declared."""
    if service_cls is None:
        from services.realtime.service import RealtimeService as service_cls
    found = []
    for name in dir(service_cls):
        method = getattr(service_cls, name)
        for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entrypoint, ApiEndpoint):
                found.append((ROUTE_ORDER.index(entrypoint.tag), method.__module__, method.__code__.co_firstlineno,
                              entrypoint))
    return [entrypoint for *_, entrypoint in sorted(found, key=lambda item: item[:3])]


def path_of(route):
    """``/api/v1/courses/{course_id}`` for the werkzeug rule ``/api/v1/courses/<course_id>``."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.url)


STATUS_TEXT = {
    200: "OK", 201: "Created", 202: "Accepted", 400: "Malformed request (not JSON, too large)",
    401: "No token, or a bad or expired one", 403: "Not allowed for this caller",
    404: "Unknown id", 409: "Conflict (already exists)", 422: "Invalid input; the message names the field",
    429: "Rate limited", 503: "A backing service did not answer in time",
}

WHO_TEXT = {
    ANYONE: "Anyone; a token, if sent, must be valid.",
    USER: "Any logged-in user.",
    STUDENT: "A student (see the summary for the course rules).",
    INSTRUCTOR: "An instructor (of this course, for course routes).",
}


def _operation(route, ref):
    operation = {
        "operationId": _operation_id(route),
        "summary": route.summary,
        "description": " ".join(filter(None, [WHO_TEXT[route.callers], route.description])),
        "tags": [route.tag],
        "responses": {str(route.status): _success(route, ref)},
    }
    if route.callers != ANYONE:
        operation["security"] = [{"bearer": []}]
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in _path_parameters(path_of(route))]
    if route.listing:
        parameters += [
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100,
                                                        "default": 20}},
            {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
        ]
    if route.cursor:
        parameters += [
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100,
                                                        "default": 50}},
            {"name": "before", "in": "query", "schema": {"type": "string"},
             "description": "a message id: the page ends just before it"},
        ]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": {"$ref": ref(route.body)}}}}
    for status in route.errors:
        operation["responses"][str(status)] = {"$ref": f"#/components/responses/E{status}"}
    return operation


def _success(route, ref):
    if route.answer is None:
        return {"description": STATUS_TEXT[route.status], "content": {"application/json": {"schema": {}}}}
    if route.listing or route.cursor:
        data = {"type": "array", "items": {"$ref": ref(route.answer)}}
        schema = {"type": "object", "required": ["data", "meta"],
                  "properties": {"data": data, "meta": {"$ref": ref(CursorMeta if route.cursor else Meta)}}}
    else:
        schema = {"type": "object", "required": ["data"], "properties": {"data": {"$ref": ref(route.answer)}}}
    return {"description": STATUS_TEXT[route.status], "content": {"application/json": {"schema": schema}}}


def _path_parameters(path):
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _operation_id(route):
    words = [p.strip("{}") for p in path_of(route).split("/") if p and p not in ("api", "v1")]
    return "_".join([route.method.lower()] + [w.replace(".", "_") for w in words])


@cache
def document(service_cls=None):
    """The OpenAPI document of the door's routes as a dict (built once per process)."""
    door_routes = routes(service_cls)
    models = {m for r in door_routes for m in (r.answer, r.body) if m is not None} | {Meta, CursorMeta, ErrorAnswer}
    # requests are described as the door validates them, answers as it sends them
    keyed = sorted(((m, "validation" if issubclass(m, schemas.Strict) else "serialization") for m in models),
                   key=lambda pair: pair[0].__name__)
    _, top = models_json_schema(keyed, ref_template=REF)
    components = top.get("$defs", {})

    def ref(model):
        return REF.format(model=model.__name__)

    paths = {}
    for route in door_routes:
        paths.setdefault(path_of(route), {})[route.method.lower()] = _operation(route, ref)
    responses = {f"E{status}": {"description": text, "content": {
        "application/json": {"schema": {"$ref": ref(ErrorAnswer)}}}}
        for status, text in STATUS_TEXT.items() if status >= 400}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Course platform HTTP API",
            "version": "1",
            "description": "Success is {\"data\": ...}; failure is {\"error\": {\"code\", \"message\"}}. "
                           "The Socket.IO events are described in docs/asyncapi.yaml.",
        },
        "servers": [{"url": "http://localhost:5000", "description": "development (make run)"}],
        "tags": [{"name": name} for name in TAGS],
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": responses,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
