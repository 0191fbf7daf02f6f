"""JSON for what the door reads and writes most: Socket.IO packets and room-log batches.

orjson, behind the two functions python-socketio asks of a ``json`` module (``dumps``,
``loads``; ``StrictPacket.json``). Under progress load the stdlib's encoder and decoder were
a tenth of the door's CPU: every client packet decoded (with a new ``JSONDecoder`` per call, as
engine.io passes ``parse_int``), every room-log batch encoded and decoded, every emit encoded
(docs/benchmarks.md).

The stdlib (as engine.io configures it) stays the answer for what orjson refuses and the
stdlib takes: ``NaN`` and ``Infinity`` (Python clients write them), unpaired surrogates,
integers past 64 bits. So a client gets exactly the answers it got before (a validation error
naming its event, not a malformed packet), and only the rare packet pays for two parsers.
Otherwise the one difference is harmless: non-ASCII text is written as UTF-8, not as
``\\uXXXX`` escapes (the same JSON to any parser; websocket text frames are UTF-8).
"""
import json

import orjson
from engineio import json as engineio_json

_OPTIONS = orjson.OPT_NON_STR_KEYS  # integer keys written as strings, as the stdlib does


def dumps(value, **_compact):
    """JSON text of ``value``, always compact (python-socketio asks with ``separators``)."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError: see the module's docstring
        return json.dumps(value, separators=(",", ":"))


def dumpb(value):
    """JSON of ``value`` as UTF-8 bytes (a message body)."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


def loads(text):
    """``text`` (str or bytes) decoded; ``ValueError`` if it is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return engineio_json.loads(text)  # see the module's docstring; raises ValueError if not JSON
