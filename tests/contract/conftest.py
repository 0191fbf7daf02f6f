"""The contract tier: the published descriptions against the code.

What belongs here: the OpenAPI and AsyncAPI documents, the user's Socket.IO document and
the TypeScript typings, each checked against what the door's code declares (its ``@api``
routes, its socket events, its validation models: ``tests/support/surface.py``). Nothing
runs but the checks; real payloads are compared with the documents in
``tests/stack/test_api_descriptions.py``.
"""
