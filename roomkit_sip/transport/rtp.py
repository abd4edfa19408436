# -*- test-case-name: tests.transport.test_rtp -*-
"""
The two datagram protocols of one call's media: RTP on an even port, RTCP on
the next one (RFC 3550 §11).

They only move bytes.  A received datagram goes, with its source address and
the reactor's C{seconds()}, to the receiver the media session attached; a
datagram to send goes out with L{MediaDatagramProtocol.sendto}, which turns a
socket error into a C{False} return and a counter instead of an exception in
the middle of a media tick.

The protocols exist before their session: the call engine binds the port pair
to write its number into the SDP answer, then creates the session, which
attaches itself.  What arrives in between (early RTP from a fast peer) is
counted in L{MediaDatagramProtocol.unattached} and dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.error import InvalidAddressError, MessageLengthError
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

#: Module-level on purpose: see "Logging" in docs/architecture.md.
_log = Logger()

__all__ = ["Addr", "MediaDatagramProtocol", "RTCPProtocol", "RTPProtocol", "Receiver"]

#: A UDP address, C{(host, port)}.
Addr = tuple[str, int]
#: C{receiver(datagram, source, arrival_seconds)}.
Receiver = Callable[[bytes, Addr, float], object]

_SEND_ERRORS = (OSError, MessageLengthError, InvalidAddressError)


class MediaDatagramProtocol(DatagramProtocol):
    """
    Forwards datagrams to an attached receiver; sends datagrams.

    @ivar unattached: datagrams dropped because no receiver was attached.
    @ivar receiver_errors: datagrams whose receiver raised (a bug: it is
        logged, and the reactor never sees it).
    @ivar send_errors: datagrams the socket refused to send.
    """

    noisy = False  # one port pair per call: no "starting protocol" line each
    kind = "media"

    def __init__(self, clock: IReactorTime) -> None:
        """
        @param clock: the reactor whose C{seconds()} timestamps arrivals.
        """
        self._seconds = clock.seconds
        self._receiver: Receiver | None = None
        self._socket_sendto: Callable[[bytes, Addr], object] | None = None
        self.unattached = 0
        self.receiver_errors = 0
        self.send_errors = 0

    def startProtocol(self) -> None:
        # Twisted's udp.Port.write checks the address string three times per
        # datagram (about half the cost of sending one); the session checks
        # its destinations once, when they change (media.address), so a real
        # socket is written directly.  In-memory ports have no socket.
        sock = getattr(self.transport, "socket", None)
        self._socket_sendto = getattr(sock, "sendto", None)

    def stopProtocol(self) -> None:
        self._socket_sendto = None

    def attach(self, receiver: Receiver) -> None:
        """Deliver every datagram from now on to C{receiver}."""
        self._receiver = receiver

    def detach(self) -> None:
        """Drop datagrams again (the session is closing)."""
        self._receiver = None

    def datagramReceived(self, datagram: bytes, addr: Addr) -> None:
        receiver = self._receiver
        if receiver is None:
            self.unattached += 1
            return
        try:
            receiver(datagram, addr, self._seconds())
        except Exception:
            # The session counts and drops bad input itself; reaching this is
            # a bug, and one bad datagram must not stop the port reading.
            self.receiver_errors += 1
            _log.failure(
                "{kind} receiver failed on a datagram from {addr}", kind=self.kind, addr=addr
            )

    def sendto(self, datagram: bytes, addr: Addr) -> bool:
        """
        Send C{datagram} to C{addr}.

        @return: whether the socket took it.  The first failure is logged,
            later ones only counted: a peer that vanished must not flood the log
            fifty times a second.
        """
        try:
            fast = self._socket_sendto
            if fast is not None:
                fast(datagram, addr)
            elif self.transport is not None:
                self.transport.write(datagram, addr)
            else:
                self.send_errors += 1
                return False
        except _SEND_ERRORS as e:
            self.send_errors += 1
            if self.send_errors == 1:
                _log.warn(
                    "{kind} send to {addr} failed: {error}", kind=self.kind, addr=addr, error=e
                )
            return False
        return True


class RTPProtocol(MediaDatagramProtocol):
    """The RTP port of a call (and RTCP when the peer multiplexes, RFC 5761)."""

    kind = "RTP"


class RTCPProtocol(MediaDatagramProtocol):
    """The RTCP port of a call, the RTP port plus one (RFC 3550 §11)."""

    kind = "RTCP"
