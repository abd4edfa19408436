# -*- test-case-name: tests.transport.test_addressing -*-
"""
Which of our addresses a peer should see in Via, Contact and SDP.

A SIP engine bound to C{0.0.0.0} owns no single address: a caller on the LAN
must be told the LAN address, one on loopback C{127.0.0.1}.  Writing the
wildcard into SDP would put the caller's RTP nowhere, and RFC 3264 §8.4
even reads C{c=0.0.0.0} as hold.  So, in this order:

  1. C{advertised_ip} when configured (the public address in front of a NAT);
  2. the bound address when it is a real one;
  3. the source address the kernel would use toward the peer, found by
     connecting a throw-away UDP socket (C{connect} on a datagram socket
     sends nothing; it only runs the routing decision), cached per peer.

A peer the routing table cannot reach falls back to the loopback address of
the bound family, so answers are still well-formed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["LocalAddresses", "is_unspecified", "probe_route"]

#: Where the routing probe "connects": the discard port (nothing is sent).
_PROBE_PORT = 9


def is_unspecified(host: str) -> bool:
    """Whether C{host} is a wildcard bind address (C{0.0.0.0}, C{::}, empty)."""
    if host in ("", "*"):
        return True
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def probe_route(peer: str) -> str | None:
    """
    The local address the kernel routes toward C{peer} (an IP literal), or
    C{None} when there is no route or C{peer} is not an IP address.
    """
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(peer).version == 6 else socket.AF_INET
    except ValueError:
        return None
    probe = socket.socket(family, socket.SOCK_DGRAM)
    try:
        probe.connect((peer, _PROBE_PORT))
        local = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return str(local).split("%", 1)[0]  # drop an IPv6 zone index


class LocalAddresses:
    """
    Our address as a given peer should see it.

    @param bind_host: the address the SIP (or RTP) socket is bound to.
    @param advertised_ip: overrides everything when set.
    @param probe: C{probe(peer) -> address | None}; tests inject a fake.
    @param cache_size: peers remembered (least recently used dropped first).
    """

    def __init__(
        self,
        bind_host: str,
        advertised_ip: str | None = None,
        *,
        probe: Callable[[str], str | None] = probe_route,
        cache_size: int = 1024,
    ) -> None:
        self.bind_host = bind_host
        self.advertised_ip = advertised_ip
        self._probe = probe
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size
        self._fallback = "::1" if ":" in bind_host else "127.0.0.1"

    @property
    def fixed(self) -> str | None:
        """The one address every peer sees, or C{None} when it depends on the peer."""
        if self.advertised_ip is not None:
            return self.advertised_ip
        if not is_unspecified(self.bind_host):
            return self.bind_host
        return None

    def for_peer(self, peer: str | None) -> str:
        """
        The address to advertise to C{peer} (an IP literal; a name, or
        C{None}, gets the fallback after a fixed address).
        """
        fixed = self.fixed
        if fixed is not None:
            return fixed
        if not peer:
            return self._fallback
        cached = self._cache.get(peer)
        if cached is not None:
            self._cache.move_to_end(peer)
            return cached
        found = self._probe(peer)
        if found is None or is_unspecified(found):
            # Not cached: the route may appear later (an interface coming up).
            return self._fallback
        self._cache[peer] = found
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return found
