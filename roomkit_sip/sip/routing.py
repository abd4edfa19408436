# -*- test-case-name: tests.sip.test_routing -*-
"""
Where messages go: the Via a client transaction sends (§8.1.1.7, §18.1.1),
the server transport's Via stamping and response destination (RFC 3261
§18.2.1, §18.2.2; RFC 3581 C{rport}), and the next hop of a request (§8.1.2,
loose and strict routing per §12.2.1.1 and §16.12).

Locating the next hop implements a deliberately reduced RFC 3263: the
C{transport} URI parameter if present, else TLS for C{sips:} and UDP for
C{sip:} (§4.1), the explicit port or the transport's default (§4.2), and the
C{maddr} parameter when present.  No NAPTR or SRV lookup is made; a host name
is returned as it is, for the caller to resolve with A/AAAA.  Trunks and PBXs
are configured by address, which is why this is enough here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import NamedTuple

from roomkit_sip.sip.fields import Via
from roomkit_sip.sip.headers import Headers
from roomkit_sip.sip.message import Request
from roomkit_sip.sip.timers import is_reliable
from roomkit_sip.sip.transaction import is_rfc3261_branch
from roomkit_sip.sip.uri import URI, SipURI, parse_address

__all__ = [
    "Hop",
    "complete_via",
    "default_port",
    "next_hop",
    "response_destination",
    "set_top_via",
    "stamp_via",
    "uri_hop",
]

Address = tuple[str, int]


class Hop(NamedTuple):
    """Where to send a request: host (name or IP), port, Via transport token."""

    host: str
    port: int
    transport: str


def default_port(transport: str) -> int:
    """5061 for TLS (and secure WebSockets), 5060 otherwise (§19.1.2, §18.2.2)."""
    return 5061 if transport.upper() in ("TLS", "TLS-SCTP", "WSS") else 5060


def _same_ip(host: str, ip: str) -> bool:
    try:
        return ipaddress.ip_address(host) == ipaddress.ip_address(ip)
    except ValueError:
        return False  # a domain name never equals the packet source (§18.2.1)


def set_top_via(headers: Headers, via: Via) -> None:
    """
    Replace the first Via value in C{headers}, keeping the others in order
    (a Via line may hold several comma-separated values, §7.3.1) and every
    header field line where it was; without a Via, C{via} goes first.
    """
    if "Via" in headers:
        headers.replace_first("Via", via)
    else:
        headers.add("Via", via, first=True)


def complete_via(
    request: Request,
    destination: Address,
    transport: str,
    local_via: Callable[[Address, str], Via] | None,
    new_branch: Callable[[], str],
) -> None:
    """
    Make the top Via of an outgoing request name a new client transaction
    (§8.1.1.7, §18.1.1), in place: without a Via, C{local_via(destination,
    transport)} (our sent-by) with a fresh branch goes first; a top Via whose
    branch is not RFC 3261's gets a fresh one.

    @raise ValueError: the request has no Via and C{local_via} is C{None}.
    """
    if "Via" not in request.headers:
        if local_via is None:
            raise ValueError("the request has no Via and no local_via was configured")
        via = local_via(destination, transport)
        request.headers.add("Via", via.with_params(branch=new_branch()), first=True)
    elif not is_rfc3261_branch(request.top_via.branch):
        set_top_via(request.headers, request.top_via.with_params(branch=new_branch()))


def stamp_via(request: Request, source: Address) -> Via:
    """
    Record where a request came from in its top Via (§18.2.1): C{received}
    when the sent-by host is a name or another address, and, when the client
    asked with an empty C{rport}, C{rport} filled with the source port and
    C{received} always (RFC 3581 §4).  Responses built from the request carry
    the stamped Via, which L{response_destination} reads.

    @return: the stamped top Via (the request is updated in place).
    """
    ip, port = source
    via = request.top_via
    stamped = via
    if via.rport is True:
        stamped = stamped.with_params(received=ip, rport=port)
    elif not _same_ip(via.host, ip):
        stamped = stamped.with_params(received=ip)
    if stamped is not via:
        set_top_via(request.headers, stamped)
    return stamped


def response_destination(via: Via, source: Address, transport: str) -> Address:
    """
    Where a server transaction sends its responses (§18.2.2, RFC 3581 §4).

    @param via: the request's top Via, stamped by L{stamp_via}.
    @param source: the address the request came from.
    @param transport: the transport it arrived on.
    @return: C{(host, port)}.  For a reliable transport this is the source:
        responses go back over the connection the request used (if it has
        closed, the transport reconnects to the same address, which is
        C{received} and the sent-by port for a well-behaved client).
    """
    if is_reliable(transport):
        return source
    port = via.port if via.port is not None else default_port(via.transport)
    maddr = via.params.get("maddr")
    if maddr is not None:
        return maddr, port
    rport = via.rport
    host = via.received or via.host
    if rport is not None and rport is not True:
        return host, int(rport)
    return host, port


def uri_hop(uri: URI) -> Hop:
    """
    The transport address a SIP URI designates (reduced RFC 3263, see the
    module docstring): C{maddr} over the host, the C{transport} parameter,
    the explicit port or the transport's default.

    @raise ValueError: C{uri} is not a C{sip:}/C{sips:} URI.
    """
    if not isinstance(uri, SipURI):
        raise ValueError(f"cannot route to a {uri.scheme}: URI")
    param = uri.transport
    if param is not None:
        transport = param.upper()
        if uri.scheme == "sips" and transport == "TCP":
            transport = "TLS"  # sips over TCP means TLS (§26.2.2)
    else:
        transport = "TLS" if uri.scheme == "sips" else "UDP"
    port = uri.port if uri.port is not None else default_port(transport)
    return Hop(uri.maddr or uri.host, port, transport)


def next_hop(request: Request) -> Hop:
    """
    The next hop of an out-of-dialog request a UAC sends (§8.1.2).

    With a loose router first (its Route URI has C{lr}), the request goes to
    the first Route; otherwise to the Request-URI.  A request alone cannot
    tell whether it was formed for a strict router (§12.2.1.1 moves that
    router into the Request-URI and may leave loose ones in Route), so an
    in-dialog request takes L{roomkit_sip.sip.dialog.Dialog.next_hop}.
    """
    routes = request.headers.get_all("Route")
    if routes:
        first = parse_address(routes[0]).uri
        if isinstance(first, SipURI) and first.lr:
            return uri_hop(first)
    return uri_hop(request.request_uri)
