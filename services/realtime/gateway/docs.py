"""Docs: the HTTP API's OpenAPI description (the socket events' is docs/asyncapi.yaml)."""
from services.realtime import openapi
from services.realtime.door import json_response
from services.realtime.entrypoints import ANYONE, api
from services.realtime.gateway import Gateway


class DocsGateway(Gateway):
    @api("GET", "/api/v1/openapi.json", summary="This document", callers=ANYONE, tag="docs",
         description="The OpenAPI document itself, not wrapped in {data}.")
    def openapi_document(self, request):
        # the document itself, not wrapped in {"data": ...}: tools read it as it is
        return json_response(200, openapi.document())
