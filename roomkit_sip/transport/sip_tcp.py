# -*- test-case-name: tests.transport.test_sip_tcp -*-
"""
SIP over TCP: a byte stream cut into messages by Content-Length (RFC 3261
§18.3), and the table of open connections.

Connections are kept in one L{ConnectionTable} keyed by the peer's address,
because SIP reuses them: a response goes back over the connection its request
came in on (§18.2.2), and a request to a peer we are already connected to
goes over that connection instead of a new one (§18.1.1).  When no connection
exists, one is opened and what is sent meanwhile waits for it.

A framing error (no or bad Content-Length, an oversized message) loses the
message boundaries: it is answered when a request could be salvaged, then the
connection is closed.  A message that frames but does not parse is answered
(or dropped) like a bad datagram, and the connection stays up.  A connection
with no traffic for C{idle_timeout} seconds is closed.  CRLF keep-alive pings
get their pong (RFC 5626 §3.5.1).  Nothing raises into the reactor.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTCP, IReactorTime
from twisted.internet.protocol import ClientFactory, Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from roomkit_sip.sip.errors import SIPFramingError, SIPParseError
from roomkit_sip.sip.framing import PING, PONG, StreamFramer
from roomkit_sip.sip.message import Request, Response
from roomkit_sip.sip.parser import parse_message
from roomkit_sip.transport.sip_udp import error_answer

__all__ = ["ConnectionTable", "SIPStreamProtocol"]

#: Module-level, not per instance: an event's log_source would keep the
#: object (a call and its media) alive in any observer that retains events.
_log = Logger()

Addr = tuple[str, int]
Deliver = Callable[[Request | Response, Addr, str], object]

#: The largest body accepted on a stream: SIP bodies are SDP and DTMF.
MAX_BODY_BYTES = 65536
#: Seconds an outbound connection attempt may take.
CONNECT_TIMEOUT = 10.0
#: Messages queued per pending connection before the oldest are dropped.
MAX_QUEUED = 64


class SIPStreamProtocol(Protocol):
    """One SIP connection, inbound or outbound."""

    def __init__(self, table: ConnectionTable) -> None:
        self._table = table
        self._framer = StreamFramer(max_body_bytes=MAX_BODY_BYTES)
        self.peer: Addr | None = None
        self._idle: IDelayedCall | None = None
        self._last = 0.0
        self._open = False

    def connectionMade(self) -> None:
        address = self.transport.getPeer()
        self.peer = (address.host, address.port)
        self._open = True
        self._touch()
        self._arm_idle()
        self._table._connected(self)

    def dataReceived(self, data: bytes) -> None:
        self._touch()
        try:
            chunks = self._framer.feed(data)
        except SIPFramingError as error:
            self._reject(error)
            self.transport.loseConnection()
            return
        except Exception:
            _log.failure("SIP framer raised on data from {peer}", peer=self.peer)
            self.transport.loseConnection()
            return
        for chunk in chunks:
            if chunk == PING:
                self.transport.write(PONG)
                continue
            try:
                message = parse_message(chunk)
            except SIPParseError as error:
                self._reject(error)
                continue
            except Exception:
                _log.failure("SIP parser raised on a message from {peer}", peer=self.peer)
                continue
            try:
                self._table.deliver(message, self.peer, "TCP")
            except Exception:
                _log.failure("SIP message from {peer} broke its consumer", peer=self.peer)

    def _reject(self, error: SIPParseError) -> None:
        _log.info(
            "unparsable SIP message on TCP from {peer}: {status} {detail}",
            peer=self.peer,
            status=error.status,
            detail=error.detail,
        )
        assert self.peer is not None
        answer = error_answer(error, self.peer, "TCP")
        if answer is not None:
            self.transport.write(answer[0])  # back on this connection (§18.2.2)

    def send(self, data: bytes) -> None:
        """Write one message."""
        self._touch()
        self.transport.write(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._open = False
        if self._idle is not None and self._idle.active():
            self._idle.cancel()
        self._idle = None
        self._table._lost(self)

    # -- idle timeout: the timer fires once per period, not per message ----

    def _touch(self) -> None:
        self._last = self._table.clock.seconds()

    def _arm_idle(self) -> None:
        timeout = self._table.idle_timeout
        if timeout <= 0 or not self._open:
            return
        due = self._last + timeout - self._table.clock.seconds()
        self._idle = self._table.clock.callLater(max(0.0, due), self._idle_check)

    def _idle_check(self) -> None:
        self._idle = None
        if not self._open:
            return
        if self._table.clock.seconds() - self._last >= self._table.idle_timeout - 1e-6:
            _log.info("closing idle SIP connection to {peer}", peer=self.peer)
            self.transport.loseConnection()
        else:
            self._arm_idle()


class _Dialer(ClientFactory):
    """Opens one outbound connection for the table."""

    def __init__(self, table: ConnectionTable, addr: Addr) -> None:
        self._table = table
        self._addr = addr

    def buildProtocol(self, addr: object) -> SIPStreamProtocol:
        protocol = SIPStreamProtocol(self._table)
        protocol.factory = self
        return protocol

    def clientConnectionFailed(self, connector: object, reason: Failure) -> None:
        self._table._connect_failed(self._addr, reason)


class ConnectionTable(Factory):
    """
    The listening factory and the registry of open SIP connections.

    @param reactor: C{connectTCP} for outbound connections and the clock of
        the idle timers.
    @param deliver: receives every parsed message with its source and
        C{"TCP"}.
    @param on_failure: C{on_failure(addr)} when a connection to C{addr}
        could not be opened (what was queued for it is lost); the transaction
        layer fails the transactions talking to it.
    @param idle_timeout: seconds without traffic before a connection is
        closed; 0 keeps connections until the peer closes them.
    """

    noisy = False

    def __init__(
        self,
        reactor: IReactorTCP,
        deliver: Deliver,
        on_failure: Callable[[Addr], object] | None = None,
        idle_timeout: float = 600.0,
    ) -> None:
        self._reactor = reactor
        self.clock: IReactorTime = reactor  # type: ignore[assignment]
        self.deliver = deliver
        self._on_failure = on_failure
        self.idle_timeout = idle_timeout
        self.connections: dict[Addr, SIPStreamProtocol] = {}
        self._dialing: dict[Addr, tuple[object, list[bytes]]] = {}
        self._open: set[SIPStreamProtocol] = set()
        self._closing = False
        self._drained: list[Deferred[None]] = []

    def buildProtocol(self, addr: object) -> SIPStreamProtocol | None:
        if self._closing:
            return None
        protocol = SIPStreamProtocol(self)
        protocol.factory = self
        return protocol

    def __len__(self) -> int:
        return len(self.connections)

    def has(self, addr: Addr) -> bool:
        """Whether a connection to C{addr} is open."""
        return addr in self.connections

    def send(self, data: bytes, addr: Addr) -> None:
        """
        Send over the connection to C{addr}, opening one if there is none
        (the message is queued until it is up).

        @raise ConnectionError: the table is closed.
        """
        if self._closing:
            raise ConnectionError("SIP TCP transport is closed")
        connection = self.connections.get(addr)
        if connection is not None:
            connection.send(data)
            return
        pending = self._dialing.get(addr)
        if pending is None:
            connector = self._reactor.connectTCP(
                addr[0], addr[1], _Dialer(self, addr), timeout=CONNECT_TIMEOUT
            )
            pending = self._dialing[addr] = (connector, [])
        queue = pending[1]
        queue.append(data)
        del queue[:-MAX_QUEUED]

    def _connected(self, protocol: SIPStreamProtocol) -> None:
        peer = protocol.peer
        assert peer is not None
        self._open.add(protocol)
        previous = self.connections.get(peer)
        self.connections[peer] = protocol
        if previous is not None and previous is not protocol:
            previous.transport.loseConnection()
        factory = getattr(protocol, "factory", None)
        key = factory._addr if isinstance(factory, _Dialer) else peer
        pending = self._dialing.pop(key, None)
        if pending is not None:
            if key != peer:
                self.connections[key] = protocol  # dialled by name: both keys
            for data in pending[1]:
                protocol.send(data)

    def _lost(self, protocol: SIPStreamProtocol) -> None:
        self._open.discard(protocol)
        for key in [k for k, v in self.connections.items() if v is protocol]:
            del self.connections[key]
        if not self._open:
            waiters, self._drained = self._drained, []
            for d in waiters:
                d.callback(None)

    def _connect_failed(self, addr: Addr, reason: Failure) -> None:
        pending = self._dialing.pop(addr, None)
        _log.info(
            "SIP TCP connection to {addr} failed: {reason}",
            addr=addr,
            reason=reason.getErrorMessage(),
        )
        if pending is not None and self._on_failure is not None and not self._closing:
            try:
                self._on_failure(addr)
            except Exception:
                _log.failure("TCP failure handler raised for {addr}", addr=addr)

    def close(self) -> Deferred[None]:
        """
        Close every connection and abandon connection attempts.

        @return: fires once every connection is closed.
        """
        self._closing = True
        for connector, _ in list(self._dialing.values()):
            try:
                connector.stopConnecting()  # type: ignore[attr-defined]
            except Exception:
                pass
        self._dialing.clear()
        if not self._open:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._drained.append(d)
        for protocol in list(self._open):
            protocol.transport.loseConnection()
        return d
