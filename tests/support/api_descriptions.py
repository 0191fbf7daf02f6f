"""The two API descriptions, loaded for the tests that keep them true.

``docs/asyncapi.yaml`` (Socket.IO, both ways) and the OpenAPI document the door serves
(``services/realtime/openapi.py``); plus the user's own Socket.IO document, read from
``shared/spec`` beside the repository (``SPEC_DOCUMENT`` overrides where it is).
"""
import os
import re
from functools import cache
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
ASYNCAPI = ROOT / "docs" / "asyncapi.yaml"
SPEC_DOCUMENT = Path(os.environ.get("SPEC_DOCUMENT", ROOT.parent / "shared" / "spec" / "websocket-api.md"))
API_TABLE = SPEC_DOCUMENT.parent.parent / "API.md"


@cache
def asyncapi():
    return yaml.safe_load(ASYNCAPI.read_text())


def resolve(ref, document=None):
    """The node a local ``$ref`` points at (following chained refs)."""
    document = document or asyncapi()
    node = document
    for key in ref.lstrip("#/").split("/"):
        node = node[key]
    return resolve(node["$ref"], document) if "$ref" in node else node


def events(action):
    """{event name: payload schema} of the operations with this action ("send" or "receive")."""
    found = {}
    for operation in asyncapi()["operations"].values():
        if operation["action"] == action:
            for message in operation["messages"]:
                message = resolve(message["$ref"])
                found[message["name"]] = resolve(message["payload"]["$ref"])
    return found


def check_payload(event, payload, action="send"):
    """Raise ``jsonschema.ValidationError`` unless ``payload`` fits the event's schema."""
    jsonschema.Draft7Validator(events(action)[event], format_checker=jsonschema.FormatChecker()).validate(payload)


def check_answer(openapi_document, method, path, status, body):
    """Raise unless an HTTP answer fits what the OpenAPI document says of it."""
    response = openapi_document["paths"][path][method.lower()]["responses"][str(status)]
    if "$ref" in response:
        response = resolve(response["$ref"], openapi_document)
    schema = dict(response["content"]["application/json"]["schema"], components=openapi_document["components"])
    jsonschema.Draft202012Validator(schema).validate(body)


def spec_events():
    """The user's document: {"client": {event: example}, "server": {event: example}} (None: no example)."""
    import json

    found, side = {"client": {}, "server": {}}, None
    for block in re.split(r"^(?=#{2,4} )", SPEC_DOCUMENT.read_text(), flags=re.M):
        heading = block.splitlines()[0] if block else ""
        if heading.startswith(("## ", "### ")):
            side = {"Client -> Server": "client", "Server -> Client": "server"}.get(heading.lstrip("# ")[:16])
        elif heading.startswith("#### `") and side:
            example = re.search(r"```json\n(.*?)```", block, re.S)
            found[side][heading[4:].strip("` ")] = json.loads(example.group(1)) if example else None
    return found


def spec_rooms():
    """The user's document's rooms: {"course_{course_id}": {events}, ...}."""
    text = SPEC_DOCUMENT.read_text()
    rooms = re.findall(r"\*\*Room Name\*\*: `([^`]+)`.*?\*\*Events\*\*: ([^\n]+)", text, re.S)
    return {name: {e.strip() for e in listed.split(",")} for name, listed in rooms}


def api_md_routes():
    """{(METHOD, path)} of the HTTP table in shared/API.md."""
    return set(re.findall(r"^\| (GET|POST|PATCH|DELETE) (/api/v1/\S+) \|", API_TABLE.read_text(), re.M))
