"""The client address the per-address limits count: X-Forwarded-For only from trusted proxies."""
import pytest

from services.realtime.addresses import TrustedProxies


def environ(peer, forwarded=None):
    env = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        env["HTTP_X_FORWARDED_FOR"] = forwarded
    return env


def test_without_trusted_proxies_the_header_is_ignored():
    proxies = TrustedProxies("")
    assert proxies.client_address(environ("198.51.100.7", "203.0.113.1")) == "198.51.100.7"


def test_a_spoofed_header_from_an_untrusted_peer_is_ignored():
    proxies = TrustedProxies("10.0.0.5")
    for spoofed in ("203.0.113.1", "203.0.113.2, 10.0.0.5", "garbage"):
        assert proxies.client_address(environ("198.51.100.7", spoofed)) == "198.51.100.7"


def test_through_a_trusted_proxy_the_client_is_the_rightmost_untrusted_hop():
    proxies = TrustedProxies("10.0.0.0/8, 127.0.0.1")
    # the client wrote the leftmost entry itself: never believed past the first untrusted hop
    assert proxies.client_address(environ("10.1.2.3", "1.1.1.1, 203.0.113.9")) == "203.0.113.9"
    # two proxies of ours in a row (an ingress behind a balancer)
    assert proxies.client_address(environ("127.0.0.1", "203.0.113.9, 10.0.0.7")) == "203.0.113.9"


def test_a_trusted_proxy_without_a_header_or_with_garbage_is_itself_the_client():
    proxies = TrustedProxies("10.0.0.5")
    assert proxies.client_address(environ("10.0.0.5")) == "10.0.0.5"
    assert proxies.client_address(environ("10.0.0.5", "not-an-address")) == "10.0.0.5"
    assert proxies.client_address(environ("10.0.0.5", "203.0.113.9, nonsense")) == "10.0.0.5"


def test_ipv6_and_ipv4_mapped_peers():
    proxies = TrustedProxies("fd00::/8, 10.0.0.5")
    assert proxies.client_address(environ("fd00::1", "2001:db8::42")) == "2001:db8::42"
    assert proxies.client_address(environ("::ffff:10.0.0.5", "203.0.113.9")) == "203.0.113.9"
    assert proxies.client_address(environ("::ffff:198.51.100.7", "203.0.113.9")) == "198.51.100.7"


def test_a_wrong_entry_fails_at_start_by_name():
    with pytest.raises(RuntimeError, match="not-a-network"):
        TrustedProxies("10.0.0.0/8, not-a-network")
