# -*- test-case-name: tests.media.test_address -*-
"""
Whether an address from SDP is somewhere we may stream RTP to.

A remote party controls the address we send to, so it is checked before a
single packet leaves: one audio stream is 50 packets a second, and aimed at
a broadcast or multicast address it becomes traffic for a whole network.
"""

from __future__ import annotations

import ipaddress

__all__ = ["HOLD", "OK", "check_target"]

#: The address is usable.
OK = "ok"
#: C{c=0.0.0.0}: the RFC 2543 way to put a call on hold (RFC 3264 §8.4):
#: no sending, and nothing wrong.
HOLD = "hold"


def check_target(addr: tuple[str, int] | None) -> str:
    """
    Classify a media destination.

    @return: L{OK}; L{HOLD} for C{0.0.0.0}; otherwise why it is refused:
        C{"unknown"} (C{None}, as with a late offer), C{"port-zero"} (RFC 3264
        §6: a rejected or disabled stream), C{"bad-port"}, C{"not-ip"} (a
        host name: the media path does not resolve names), C{"unspecified"}
        (C{::}), C{"multicast"}, C{"broadcast"} (C{255.255.255.255}) or
        C{"reserved"} (240.0.0.0/4).
    """
    if addr is None:
        return "unknown"
    host, port = addr
    if type(port) is not int or not 0 <= port <= 65535:
        return "bad-port"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "not-ip"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if str(ip) == "0.0.0.0":
        return HOLD
    if port == 0:
        return "port-zero"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address):
        if ip == ipaddress.IPv4Address("255.255.255.255"):
            return "broadcast"
        if ip.is_reserved:
            return "reserved"
    return OK
