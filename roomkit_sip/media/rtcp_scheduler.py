# -*- test-case-name: tests.media.test_rtcp -*-
"""
Puts one call's RTCP on the wire: a report every L{RTCPSession.interval}
(RFC 3550 §6.3: 2 to 6 s, about 4 s on average, for a two-party call), a
BYE when the call ends (§6.6), and the peer's reports digested as they come.

What goes in a report, and how the peer's SR/RR become loss, jitter and
round-trip time, is the sans-IO L{RTCPSession}'s business; this is its timer
and its socket.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from roomkit_sip.rtp.errors import RTCPParseError
from roomkit_sip.rtp.rtcp import RTCPSession

#: Module-level on purpose: see "Logging" in docs/architecture.md.
_log = Logger()

__all__ = ["RTCPScheduler"]


class RTCPScheduler:
    """
    @ivar sent: compound packets sent.
    @ivar received: valid compound packets received.
    @ivar invalid: datagrams that were not valid RTCP (counted, dropped).
    """

    def __init__(
        self, clock: IReactorTime, session: RTCPSession, transmit: Callable[[bytes], bool]
    ) -> None:
        """
        @param transmit: sends a compound packet to the peer's RTCP address,
            returning whether it went out (not, while there is none).
        """
        self._clock = clock
        self.session = session
        self._transmit = transmit
        self._timer: IDelayedCall | None = None
        self._stopped = False
        self.sent = 0
        self.received = 0
        self.invalid = 0

    def start(self) -> None:
        """Schedule the first report."""
        if self._timer is None and not self._stopped:
            self._timer = self._clock.callLater(self.session.interval(), self._report)

    def receive(self, data: bytes, now: float) -> None:
        """Digest a datagram from the peer; invalid ones are counted and dropped."""
        try:
            self.session.receive(data, now)
        except RTCPParseError as e:
            self.invalid += 1
            if self.invalid == 1:
                _log.debug("invalid RTCP dropped: {reason}", reason=e.reason)
            return
        self.received += 1

    def stop(self, reason: str | None = None) -> None:
        """Cancel the timer and send a BYE (§6.6).  Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._transmit(self.session.bye(self._clock.seconds(), reason)):
            self.sent += 1

    def _report(self) -> None:
        self._timer = None
        if self._stopped:
            return
        if self._transmit(self.session.report(self._clock.seconds())):
            self.sent += 1
        self._timer = self._clock.callLater(self.session.interval(), self._report)
