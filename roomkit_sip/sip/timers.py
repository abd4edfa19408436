# -*- test-case-name: tests.sip.test_timers -*-
"""
RFC 3261 timer values (§17, Table 4 of Appendix A) and RFC 6026's L and M,
plus L{TimerGroup}, the named delayed calls one transaction owns.

Every value derives from T1, T2 and T4, so a test that shortens T1 shortens
the whole schedule consistently.  What differs between transports is
resolved once, by L{TimerSettings.resolve}: over a reliable transport (TCP,
TLS, SCTP) requests and non-2xx responses are never retransmitted and the
"wait for stray retransmissions" timers D, I, J and K are zero (§17.1.1.2,
§17.1.2.2, §17.2.1, §17.2.2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet.interfaces import IDelayedCall, IReactorTime

#: Transports that deliver reliably (§18): no hop-by-hop retransmission.
RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"})


def is_reliable(transport: str) -> bool:
    """
    Whether C{transport} (a Via transport token, any case) is reliable.
    """
    return transport.upper() in RELIABLE_TRANSPORTS


@dataclass(frozen=True, slots=True)
class Timers:
    """
    The timers of one transport, in seconds (RFC 3261 Table 4).  C{None}
    means "not used": A, E and G on reliable transports.

    @ivar a: INVITE request retransmit, initial interval (doubles, no cap).
    @ivar b: INVITE client transaction timeout.
    @ivar d: wait time for response retransmits (client INVITE, Completed).
    @ivar e: non-INVITE request retransmit, initial interval (doubles to T2).
    @ivar f: non-INVITE client transaction timeout.
    @ivar g: INVITE non-2xx response retransmit, initial (doubles to T2).
    @ivar h: wait time for the ACK of a non-2xx response.
    @ivar i: wait time for ACK retransmits (server INVITE, Confirmed).
    @ivar j: wait time for non-INVITE request retransmits.
    @ivar k: wait time for non-INVITE response retransmits.
    @ivar l: RFC 6026: wait time for accepted INVITE request retransmits.
    @ivar m: RFC 6026: wait time for 2xx retransmits to an accepted INVITE.
    @ivar t1: RTT estimate, the first 2xx retransmit interval (§13.3.1.4).
    @ivar t2: the cap of every doubling interval except Timer A.
    @ivar trying: how long a server INVITE transaction waits for the TU
        before sending 100 (Trying) itself (§17.2.1).
    """

    a: float | None
    b: float
    d: float
    e: float | None
    f: float
    g: float | None
    h: float
    i: float
    j: float
    k: float
    l: float  # noqa: E741 (the RFC's name)
    m: float
    t1: float
    t2: float
    trying: float

    def backoff(self, interval: float) -> float:
        """
        The interval after C{interval} for Timers E and G and 2xx
        retransmission: doubled, capped at T2 (§17.1.2.2, §17.2.1, §13.3.1.4).
        """
        return min(2 * interval, self.t2)


@dataclass(frozen=True, slots=True)
class TimerSettings:
    """
    T1, T2 and T4 (RFC 3261 §17.1.1.1, §17.1.2.2) and what derives from them.

    @ivar t1: RTT estimate, 500 ms by default.
    @ivar t2: the maximum retransmit interval for non-INVITE requests and
        INVITE responses, 4 s.
    @ivar t4: the maximum duration a message remains in the network, 5 s.
    @ivar timer_d: Timer D on unreliable transports: "at least 32 seconds"
        and independent of T1 (§17.1.1.2), since it covers retransmissions
        by a peer whose T1 we do not know.
    @ivar trying: the 200 ms of §17.2.1 after which the server INVITE
        transaction sends 100 (Trying) when the TU has not answered.
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_d: float = 32.0
    trying: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.t1 <= self.t2:
            raise ValueError("need 0 < t1 <= t2 (RFC 3261 §17.1.1.1)")
        if self.t4 <= 0 or self.timer_d < 0 or self.trying < 0:
            raise ValueError("t4 must be positive, timer_d and trying not negative")

    def resolve(self, reliable: bool) -> Timers:
        """
        The timers for a reliable (C{True}) or unreliable transport.
        """
        t1, t4 = self.t1, self.t4
        window = 64 * t1
        return Timers(
            a=None if reliable else t1,
            b=window,
            d=0.0 if reliable else self.timer_d,
            e=None if reliable else t1,
            f=window,
            g=None if reliable else t1,
            h=window,
            i=0.0 if reliable else t4,
            j=0.0 if reliable else window,
            k=0.0 if reliable else t4,
            l=window,
            m=window,
            t1=t1,
            t2=self.t2,
            trying=self.trying,
        )

    def for_transport(self, transport: str) -> Timers:
        """
        L{resolve} for a Via transport token (C{"UDP"}, C{"TCP"}...).
        """
        return self.resolve(is_reliable(transport))


class TimerGroup:
    """
    Named one-shot timers on an injected clock, so that a transaction can
    restart one by name and cancel all of them when it terminates (nothing
    it scheduled may outlive it).
    """

    __slots__ = ("_clock", "_calls")

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._calls: dict[str, IDelayedCall] = {}

    def start(self, name: str, delay: float, fire: Callable[[], None]) -> None:
        """
        Call C{fire} after C{delay} seconds, replacing a pending timer of the
        same name.
        """
        self.cancel(name)

        def expired() -> None:
            del self._calls[name]
            fire()

        self._calls[name] = self._clock.callLater(delay, expired)

    def cancel(self, name: str) -> None:
        """Cancel the timer called C{name}, if pending."""
        call = self._calls.pop(name, None)
        if call is not None and call.active():
            call.cancel()

    def cancel_all(self) -> None:
        """Cancel every pending timer."""
        calls, self._calls = self._calls, {}
        for call in calls.values():
            if call.active():
                call.cancel()

    def __contains__(self, name: object) -> bool:
        return name in self._calls

    def __len__(self) -> int:
        return len(self._calls)
