"""Generated and malformed input at the door: every answer an error event, nothing crashes.

Hypothesis feeds every client event thousands of payloads (wrong types, nulls, huge and
unicode strings, nested structures, missing and extra keys); a raw websocket sends
malformed Engine.IO / Socket.IO frames. Afterwards no service has logged a traceback,
the fuzzing clients are still connected, and a bystander never noticed.
"""
import itertools
import json
import time

import pytest
import websocket
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.support.stack import log_text

ERROR_CODES = {"missing_parameters", "invalid_parameters", "forbidden", "not_found", "rate_limited", "muted",
               "unavailable"}
EVENTS = ["join_course", "leave_course", "join_video", "leave_video", "send_chat_message", "video_progress",
          "no_such_event", "connect", "disconnect", "connect_error"]
KEYS = ["course_id", "video_id", "message", "timestamp", "progress", "__proto__", "", "💥"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=50),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=3000),
    st.just("00000000-0000-0000-0000-000000000000"), st.just("x" * 70),
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
payloads = st.one_of(json_values, st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5))


def tracebacks(stack):
    return sum(log_text(stack, service).count("Traceback") for service in stack.processes)


@pytest.fixture
def fuzzers(api, connect):
    """Ten connections of one user, taken in turn, to stay under the per-connection rate."""
    session = api.new_user()
    return itertools.cycle([connect(session) for _ in range(10)])


def test_generated_payloads_always_get_an_answer(stack, api, connect, fuzzers):
    bystander = connect(api.new_user())
    before = tracebacks(stack)
    answered = []

    @settings(max_examples=1500, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(event=st.sampled_from(EVENTS), payload=payloads)
    def one(event, payload):
        # a frame over 64 KB closes the connection by design (test_security.py covers it)
        assume(len(json.dumps(payload)) < 60_000)
        client = next(fuzzers)
        ack = client.sio.call(event, payload, timeout=10)
        assert isinstance(ack, dict), ack
        if "code" in ack:
            assert ack["code"] in ERROR_CODES and ack["event"] == event and ack["message"], ack
        answered.append(event)

    one()
    assert len(answered) >= 1500
    assert all(client.sio.connected for client in itertools.islice(fuzzers, 10))
    assert bystander.sio.connected
    assert bystander.sio.call("join_course", {"course_id": "x"}, timeout=5)["code"] == "not_found"
    assert tracebacks(stack) == before


MALFORMED_FRAMES = [
    "", "4", "42", '42["join_course"', "42[]", "42[1,2]", '42{"a":1}', "42null", '42["connect"]',
    '42["disconnect"]', '42["connect", {"token": 1}]', '42["*", 1]', "9", "0", "1", "2probe", "5", "6", "40/nope,", "41", "44", "49",
    '451-["send_chat_message",{"_placeholder":true,"num":0}]', "43", '42["' + "x" * 5000 + '"]',
    "42" + "[" * 500 + "]" * 500, '42[{"__proto__":{"a":1}}]', '42["join_course",' + "9" * 400 + "]",
    b"\x00\x01\x02garbage", "4\udcff".encode("utf-8", "surrogatepass"),
    '42["join_course",' + "9" * 30 + "]", '42["join_course",NaN]', '42["join_course","\\ud800"]',
]


@pytest.mark.parametrize("frame", MALFORMED_FRAMES, ids=range(len(MALFORMED_FRAMES)))
def test_malformed_frames_harm_nobody_else(stack, api, connect, frame):
    bystander = connect(api.new_user())
    before = tracebacks(stack)
    token = api.new_user()["access_token"]
    ws = websocket.create_connection(
        stack.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", timeout=5)
    try:
        assert ws.recv().startswith("0{")  # Engine.IO open
        ws.send("40" + json.dumps({"token": token}))
        assert ws.recv().startswith("40")  # Socket.IO connect accepted
        if isinstance(frame, bytes):
            ws.send_binary(frame)
        else:
            ws.send(frame)
        time.sleep(0.2)
    except (websocket.WebSocketException, ConnectionError):
        pass  # the server may drop a connection that breaks the protocol: its choice
    finally:
        ws.close()
    assert bystander.sio.connected
    assert bystander.sio.call("join_course", {"course_id": "x"}, timeout=5)["code"] == "not_found"
    assert tracebacks(stack) == before
