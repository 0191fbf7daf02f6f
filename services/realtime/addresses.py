"""Who is calling, by network address: the socket's peer, or the client a trusted proxy names.

Per-address limits (registrations, logins) are only as good as the address they count.
``X-Forwarded-For`` is written by whoever sends the request, so it is believed only
when the request came from a proxy listed in ``TRUSTED_PROXIES`` (addresses or CIDR
blocks, comma-separated). From anyone else the header is ignored: a client that sends a
thousand made-up values is still one address.

Behind proxies the header is read from the right, as nginx's ``real_ip_recursive`` does:
each proxy appends the peer it saw, so the rightmost entry not itself a trusted proxy is
the client. Entries further left were written by that client and are never believed.

werkzeug's ``ProxyFix`` does not fit: it trusts a fixed number of hops whoever sent the
request, so a client reaching the door directly (not through the proxy) could forge its
address. Here trust depends on who the peer is.
"""
import ipaddress

from services.kernel.config import split_list


def parse_networks(spec):
    """The networks of a ``TRUSTED_PROXIES`` value; a wrong entry fails at start, by name."""
    networks = []
    for entry in split_list(spec):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise RuntimeError(f"TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR block") from None
    return tuple(networks)


def _ip(text):
    """``text`` as an address (IPv4-mapped IPv6 as IPv4), or None if it is not one."""
    try:
        address = ipaddress.ip_address(text.strip())
    except (ValueError, AttributeError):
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    def __init__(self, spec=""):
        self.networks = parse_networks(spec)

    def __contains__(self, address):
        return any(address in network for network in self.networks if network.version == address.version)

    def client_address(self, environ):
        """The client's address for a WSGI ``environ`` (an HTTP request or a socket handshake)."""
        peer_text = environ.get("REMOTE_ADDR") or ""
        peer = _ip(peer_text)
        if peer is None:
            return peer_text or "unknown"
        if not self.networks or peer not in self:
            return str(peer)
        forwarded = [entry for entry in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if entry.strip()]
        client = peer
        for entry in reversed(forwarded):
            hop = _ip(entry)
            if hop is None:
                break  # not an address: nothing left of it can be believed
            client = hop
            if hop not in self:
                break
        return str(client)
