"""The OpenAPI document: valid OpenAPI 3.1, and exactly the routes the door has."""
import pytest
from openapi_spec_validator import validate

from services.realtime import openapi, schemas
from services.realtime.entrypoints import ANYONE, api
from tests.support import api_descriptions, surface

def documented_routes():
    return {(method.upper(), path) for path, item in openapi.document()["paths"].items() for method in item}


def test_the_document_is_valid_openapi_3_1():
    document = openapi.document()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_the_document_has_exactly_the_routes_of_the_door():
    assert documented_routes() == surface.http_routes()


def test_every_route_of_api_md_is_documented():
    if not api_descriptions.API_TABLE.exists():
        pytest.skip(f"{api_descriptions.API_TABLE} not found (shared/ beside the repository)")
    assert api_descriptions.api_md_routes() - documented_routes() == set()


def test_each_body_is_documented_with_the_model_the_door_validates_it_with():
    routes = {(route.method, openapi.path_of(route)): route for route in openapi.routes()}
    for (method, path), model in surface.http_body_models().items():
        documented = routes[method, path].body
        # the very class from schemas.py, not a look-alike of the same name
        assert documented is (getattr(schemas, model) if model else None), \
            f"{method} {path}: the door validates with schemas.{model}, documented {documented}"


def test_bodies_are_documented_strict_and_closed_as_they_are_validated():
    body = openapi.document()["components"]["schemas"]["RegisterBody"]
    assert body["additionalProperties"] is False and set(body["required"]) == {"email", "password"}
    assert body["properties"]["role"]["enum"] == ["student", "instructor"]


def test_path_parameters_match_the_path():
    for path, item in openapi.document()["paths"].items():
        for operation in item.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(openapi._path_parameters(path)), path


def new_route(self, request):
    return {}


@pytest.mark.parametrize("missing", ["summary", "callers", "tag"])
def test_a_route_without_its_description_cannot_be_declared(missing):
    metadata = {"summary": "Something new", "callers": ANYONE, "tag": "courses"}
    del metadata[missing]
    with pytest.raises(TypeError):
        api("GET", "/api/v1/something", **metadata)(new_route)


def test_a_route_with_unknown_callers_cannot_be_declared():
    with pytest.raises(ValueError, match="callers"):
        api("GET", "/api/v1/something", summary="Something new", callers="admins", tag="courses")(new_route)
