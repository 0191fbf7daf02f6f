"""docs/asyncapi.yaml: valid AsyncAPI 3, and every event the door handles or emits, and
every event, field and room of the user's document, in it."""
import json
from pathlib import Path

import jsonschema
import pytest

from services.realtime import schemas
from tests.support import api_descriptions, surface

ASYNCAPI_SCHEMA = (Path(__file__).resolve().parents[2] / "clients" / "typescript" / "node_modules"
                   / "@asyncapi" / "specs" / "schemas" / "3.0.0.json")


@pytest.fixture(scope="module")
def spec():
    if not api_descriptions.SPEC_DOCUMENT.exists():
        pytest.skip(f"the user's document is not at {api_descriptions.SPEC_DOCUMENT} (set SPEC_DOCUMENT)")
    return api_descriptions.spec_events()


def test_the_document_is_valid_asyncapi_3():
    assert ASYNCAPI_SCHEMA.exists(), "the AsyncAPI JSON Schema comes with clients/typescript: run `make test`"
    schema = json.loads(ASYNCAPI_SCHEMA.read_text())
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(api_descriptions.asyncapi()))
    assert errors == [], [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors]


def test_every_event_the_door_handles_is_documented_as_client_to_server():
    assert surface.handled_socket_events() - set(api_descriptions.events("receive")) == set()


def test_every_event_the_door_emits_is_documented_as_server_to_client():
    assert surface.emitted_socket_events() - set(api_descriptions.events("send")) == set()


def test_what_the_door_requires_of_a_client_event_is_documented_as_required():
    documented = api_descriptions.events("receive")
    checked = surface.socket_payload_models()
    assert checked, "no socket payload model found in the door's code"
    for event, model_name in checked.items():
        model = getattr(schemas, model_name).model_json_schema()
        schema = documented[event]
        assert set(model.get("required", [])) <= set(schema.get("required", [])), event
        for field, rule in model["properties"].items():
            if "type" in rule:  # the same JSON type for every field the door types simply
                assert schema["properties"][field]["type"] == rule["type"], (event, field)


def test_the_events_of_the_users_document_and_their_fields(spec):
    for side, action in (("client", "receive"), ("server", "send")):
        documented = api_descriptions.events(action)
        for event, example in spec[side].items():
            assert event in documented, f"{event} ({side} event of the user's document) is not in asyncapi.yaml"
            if example is None:
                continue
            # the document's fields are exactly the required ones, and its example fits
            assert set(documented[event].get("required", [])) == set(example), event
            api_descriptions.check_payload(event, example, action)


def test_the_rooms_of_the_users_document_are_channels_with_their_events():
    if not api_descriptions.SPEC_DOCUMENT.exists():
        pytest.skip("the user's document is not beside the repository")
    channels = {c["address"]: set(c["messages"]) for c in api_descriptions.asyncapi()["channels"].values()}
    for room, events in api_descriptions.spec_rooms().items():
        assert room in channels, room
        assert events <= channels[room], room


def test_extra_fields_are_allowed_and_missing_ones_are_not():
    payload = {"user_id": "u", "user_email": "a@b.co", "message": "hi", "timestamp": "2024-01-20T10:30:00Z"}
    api_descriptions.check_payload("new_chat_message", {**payload, "course_id": "c", "video_id": "v"})
    with pytest.raises(jsonschema.ValidationError):
        api_descriptions.check_payload("new_chat_message", {k: v for k, v in payload.items() if k != "user_email"})
