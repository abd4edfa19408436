# -*- test-case-name: tests.engine.test_transports -*-
"""
L{SIPTransports}: the engine's SIP sockets behind the one C{send(message,
destination, transport)} the transaction layer writes through, and the
addresses we put in Via and Contact.

  - UDP and TCP listen on the same port, so a Via sent-by is right for both.
  - A request over UDP larger than 1300 bytes goes over TCP when TCP is
    enabled, its top Via rewritten to match (RFC 3261 §18.1.1).
  - A destination given as a host name (a Contact or Route naming one) is
    resolved with the reactor's resolver before the write; a failure is a
    transport error for the transactions talking to it.
  - Our address toward a peer comes from L{LocalAddresses}: C{advertised_ip},
    the bound address, or the one routable toward the peer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.internet.error import CannotListenError
from twisted.logger import Logger

from roomkit_sip.sip.fields import Params, Via
from roomkit_sip.sip.message import Request, Response
from roomkit_sip.sip.routing import set_top_via
from roomkit_sip.sip.uri import Address, SipURI
from roomkit_sip.transport.addressing import LocalAddresses
from roomkit_sip.transport.sip_tcp import ConnectionTable
from roomkit_sip.transport.sip_udp import SIPDatagramProtocol

__all__ = ["MTU_LIMIT", "SIPTransports"]

#: Module-level, not per instance: an event's log_source would keep the
#: object (a call and its media) alive in any observer that retains events.
_log = Logger()

Addr = tuple[str, int]
Deliver = Callable[[Request | Response, Addr, str], object]

#: §18.1.1: a request larger than this, path MTU unknown, goes over TCP.
MTU_LIMIT = 1300
#: Tries at binding UDP and TCP on one ephemeral port (port 0).
_BIND_ATTEMPTS = 20


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class SIPTransports:
    """
    The SIP listening sockets of one engine.

    @param reactor: C{listenUDP}, C{listenTCP}, C{connectTCP}, C{resolve}
        and the clock.
    @param host: the bind address; C{port} the port (0: any free one).
    @param transports: some of C{"udp"}, C{"tcp"}.
    @param addresses: our address as each peer sees it.
    @param on_failure: C{on_failure(destination, transport)} when a message
        could not be delivered after L{send} returned (a failed connect, a
        failed name lookup).
    """

    def __init__(
        self,
        reactor: Any,
        host: str,
        port: int,
        transports: tuple[str, ...],
        addresses: LocalAddresses,
        *,
        on_failure: Callable[[Addr, str], object] | None = None,
        tcp_idle_timeout: float = 600.0,
    ) -> None:
        self._reactor = reactor
        self._host = host
        self._port = port
        self.enabled = frozenset(t.lower() for t in transports)
        self.addresses = addresses
        self._on_failure = on_failure
        self.deliver: Deliver = lambda message, source, transport: None
        self._udp = SIPDatagramProtocol(self._receive)
        self._udp_port: Any = None
        self._tcp = ConnectionTable(
            reactor, self._receive, self._tcp_failed, idle_timeout=tcp_idle_timeout
        )
        self._tcp_port: Any = None
        self.bound: Addr | None = None

    def _receive(self, message: Request | Response, source: Addr, transport: str) -> None:
        self.deliver(message, source, transport)

    # -- lifetime ----------------------------------------------------------------

    def start(self) -> Addr:
        """
        Bind the enabled transports on one port.

        @raise CannotListenError: the port (or, for port 0, every port
            tried) is taken.
        """
        attempts = _BIND_ATTEMPTS if self._port == 0 else 1
        for attempt in range(attempts):
            udp = None
            try:
                port = self._port
                if "udp" in self.enabled:
                    udp = self._reactor.listenUDP(port, self._udp, interface=self._host)
                    port = udp.getHost().port
                if "tcp" in self.enabled:
                    self._tcp_port = self._reactor.listenTCP(port, self._tcp, interface=self._host)
                    port = self._tcp_port.getHost().port
            except CannotListenError:
                if udp is not None:
                    udp.stopListening()
                if attempt + 1 == attempts:
                    raise
                continue
            self._udp_port = udp
            self.bound = (self._host, port)
            return self.bound
        raise AssertionError("unreachable")

    def close(self) -> Deferred[Any]:
        """Stop listening and close every connection; fires when all are closed."""
        closing = [self._tcp.close()]
        for port in (self._udp_port, self._tcp_port):
            if port is not None:
                closing.append(maybeDeferred(port.stopListening))
        self._udp_port = self._tcp_port = None
        return DeferredList(closing, consumeErrors=True)

    @property
    def port(self) -> int:
        if self.bound is None:
            raise RuntimeError("the SIP transports are not started")
        return self.bound[1]

    @property
    def tcp_connections(self) -> int:
        return len(self._tcp)

    @property
    def udp_protocol(self) -> SIPDatagramProtocol:
        return self._udp

    # -- addresses ---------------------------------------------------------------

    def local_host(self, peer: str | None) -> str:
        """Our address as C{peer} (an IP, or C{None}) should see it."""
        return self.addresses.for_peer(peer if peer and _is_ip(peer) else None)

    def local_via(self, destination: Addr, transport: str) -> Via:
        """The top Via of a request we send (§18.1.1), asking for C{rport} (RFC 3581)."""
        host = self.local_host(destination[0])
        return Via(transport.upper(), host, self.port, Params([("rport", None)]))

    def contact(self, peer: str | None, transport: str) -> Address:
        """Our Contact toward C{peer}: where in-dialog requests reach us (§12.1.1)."""
        params = Params([("transport", "tcp")]) if transport.upper() == "TCP" else Params()
        uri = SipURI(host=self.local_host(peer), port=self.port, params=params)
        return Address(None, uri)

    def has_connection(self, destination: Addr) -> bool:
        """Whether a TCP connection to C{destination} is open (for reuse)."""
        return self._tcp.has(destination)

    # -- output ------------------------------------------------------------------

    def send(self, message: Request | Response, destination: Addr, transport: str) -> None:
        """
        Write one message; the transaction layer's C{send}.

        @raise Exception: the message cannot be sent now (a closed or
            unknown transport, a socket error): a transport error (§18).
        """
        kind = transport.upper()
        if (
            kind == "UDP"
            and isinstance(message, Request)
            and "tcp" in self.enabled
            and len(bytes(message)) > MTU_LIMIT
        ):
            # §18.1.1: too large for UDP; the top Via must name TCP.
            set_top_via(message.headers, replace(message.top_via, transport="TCP"))
            kind = "TCP"
        if kind.lower() not in self.enabled:
            raise ConnectionError(f"transport {transport} is not enabled")
        data = bytes(message)
        host = destination[0]
        if _is_ip(host):
            self._write(data, (host, destination[1]), kind)
            return
        d = maybeDeferred(self._reactor.resolve, host)
        d.addCallback(lambda ip: self._write(data, (ip, destination[1]), kind))
        d.addErrback(self._unreachable, destination, kind)

    def _write(self, data: bytes, destination: Addr, kind: str) -> None:
        if kind == "UDP":
            self._udp.send(data, destination)
        else:
            self._tcp.send(data, destination)

    def _unreachable(self, failure: Any, destination: Addr, kind: str) -> None:
        _log.info(
            "cannot send to {destination} over {kind}: {error}",
            destination=destination,
            kind=kind,
            error=failure.getErrorMessage(),
        )
        self._failed(destination, kind)

    def _tcp_failed(self, destination: Addr) -> None:
        self._failed(destination, "TCP")

    def _failed(self, destination: Addr, kind: str) -> None:
        if self._on_failure is not None:
            try:
                self._on_failure(destination, kind)
            except Exception:
                _log.failure("transport failure handler raised")
