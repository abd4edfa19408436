# -*- test-case-name: tests.transport.test_ports -*-
"""
RTP port pairs for calls: an even RTP port and RTCP on the next one (RFC
3550 §11), bound before they are handed out.

Three rules keep calls apart:

  - A port is handed out only once both sockets are bound, so a port some
    other process holds is skipped (its C{CannotListenError} is the OS saying
    so) and never given to a call.
  - A released pair rests in quarantine for C{quarantine} seconds of the
    reactor's clock before it can be reused, so the late packets of a call
    that just ended cannot reach the next call on the same port.
  - Allocation rotates through the range: free ports form a queue, taken
    from the front and put back at the end (after quarantine).  A port is
    reused only after every other free port had its turn, the longest
    possible rest.

Each allocation tries at most C{max_attempts} ports, so a range full of
ports held by other processes costs a bounded number of C{bind()} calls per
call, not a scan of the whole range; when no attempt succeeds, or nothing is
free, L{PortsExhausted} tells the call engine to answer 503.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IReactorTime, IReactorUDP
from twisted.logger import Logger

from roomkit_sip.transport.rtp import RTCPProtocol, RTPProtocol

__all__ = ["PortPair", "PortsExhausted", "RTPPortAllocator"]


class PortsExhausted(Exception):
    """
    No RTP port pair could be bound: every port is in use or in quarantine,
    or the OS refused each one tried.  The call engine answers 503.
    """


class PortPair:
    """
    One call's bound RTP and RTCP ports with their protocols.

    @ivar rtp_port: the even RTP port number.
    @ivar rtcp_port: C{rtp_port + 1}.
    @ivar rtp: the L{RTPProtocol} listening on C{rtp_port}.
    @ivar rtcp: the L{RTCPProtocol} listening on C{rtcp_port}.
    """

    def __init__(
        self,
        allocator: RTPPortAllocator,
        rtp_port: int,
        rtp: RTPProtocol,
        rtcp: RTCPProtocol,
        rtp_listener: IListeningPort,
        rtcp_listener: IListeningPort,
    ) -> None:
        self.rtp_port = rtp_port
        self.rtcp_port = rtp_port + 1
        self.rtp = rtp
        self.rtcp = rtcp
        self._allocator = allocator
        self._listeners = (rtp_listener, rtcp_listener)
        self._released: Deferred[None] | None = None

    @property
    def interface(self) -> str:
        """The address both ports are bound to."""
        return self._allocator.interface

    @property
    def released(self) -> bool:
        """Whether L{release} was called."""
        return self._released is not None

    def release(self) -> Deferred[None]:
        """
        Stop both ports and put the pair in quarantine.  Idempotent.

        @return: a Deferred firing once both sockets are closed.
        """
        if self._released is None:
            self._released = self._allocator._release(self, self._listeners)
        done: Deferred[None] = Deferred()
        self._released.addBoth(lambda result: (done.callback(None), result)[1])
        return done

    def __repr__(self) -> str:
        return f"<PortPair {self.interface}:{self.rtp_port}/{self.rtcp_port}>"


class RTPPortAllocator:
    """
    Hands out RTP/RTCP port pairs from C{[start, end)}.

    Every even C{p} with C{start <= p} and C{p + 1 < end} is an RTP port,
    so both ports of a pair lie in the range.
    """

    _log = Logger()

    def __init__(
        self,
        reactor: IReactorUDP,
        interface: str,
        start: int,
        end: int,
        quarantine: float = 5.0,
        *,
        max_attempts: int = 16,
        rtp_protocol: Callable[[IReactorTime], RTPProtocol] = RTPProtocol,
        rtcp_protocol: Callable[[IReactorTime], RTCPProtocol] = RTCPProtocol,
    ) -> None:
        """
        @param reactor: provides C{listenUDP} and C{seconds()} (the quarantine clock).
        @param interface: the address to bind, e.g. C{"0.0.0.0"}.
        @param quarantine: seconds a released pair rests before reuse.
        @param max_attempts: ports tried (bound) per allocation at most.
        @param rtp_protocol: makes the RTP port's protocol from the reactor.
            A fresh pair of protocols is made for every attempt: a protocol
            whose port was bound and closed again (its RTCP port was refused)
            is told so later by the reactor and cannot serve another port.
        @param rtcp_protocol: the same for the RTCP port.
        @raise ValueError: the range holds no pair, or a bad argument.
        """
        first = start + (start % 2)
        if not 0 < start < end <= 65536 or first + 1 >= end:
            raise ValueError(f"port range [{start}, {end}) holds no even RTP port with RTCP")
        if quarantine < 0 or max_attempts < 1:
            raise ValueError("quarantine must be >= 0 and max_attempts >= 1")
        self._reactor = reactor
        self._clock: IReactorTime = reactor  # type: ignore[assignment]
        self.interface = interface
        self.quarantine = quarantine
        self.max_attempts = max_attempts
        self._rtp_protocol = rtp_protocol
        self._rtcp_protocol = rtcp_protocol
        self._free: deque[int] = deque(range(first, end - 1, 2))
        self._resting: deque[tuple[float, int]] = deque()  # (reusable at, port), in time order
        self._in_use: set[int] = set()
        #: Ports the OS refused so far (held by another process).
        self.refused = 0

    @property
    def allocated(self) -> int:
        """Pairs handed out and not yet released."""
        return len(self._in_use)

    @property
    def in_quarantine(self) -> int:
        """Released pairs still resting."""
        self._wake(self._clock.seconds())
        return len(self._resting)

    @property
    def free(self) -> int:
        """Pairs that may be allocated now (some may turn out held by another process)."""
        self._wake(self._clock.seconds())
        return len(self._free)

    @property
    def capacity(self) -> int:
        """Pairs in the range."""
        return len(self._free) + len(self._resting) + len(self._in_use)

    def stats(self) -> dict[str, int]:
        """The counters by name, for metrics."""
        return {
            "allocated": self.allocated,
            "in_quarantine": self.in_quarantine,
            "free": self.free,
            "refused": self.refused,
        }

    def allocate(self) -> PortPair:
        """
        Bind the next free pair, with new protocols; the media session
        attaches to them (L{PortPair.rtp}, L{PortPair.rtcp}).

        @raise PortsExhausted: nothing free, or C{max_attempts} ports refused.
        """
        self._wake(self._clock.seconds())
        for _ in range(min(self.max_attempts, len(self._free))):
            port = self._free.popleft()
            rtp = self._rtp_protocol(self._clock)
            rtcp = self._rtcp_protocol(self._clock)
            listeners = self._bind(port, rtp, rtcp)
            if listeners is None:
                # Held by another process: back of the queue, tried again last.
                self._free.append(port)
                continue
            self._in_use.add(port)
            return PortPair(self, port, rtp, rtcp, *listeners)
        raise PortsExhausted(
            f"no RTP port pair on {self.interface}: {len(self._in_use)} in use, "
            f"{len(self._resting)} in quarantine, {len(self._free)} free but refused"
        )

    def _bind(
        self, port: int, rtp: RTPProtocol, rtcp: RTCPProtocol
    ) -> tuple[IListeningPort, IListeningPort] | None:
        listen = self._reactor.listenUDP
        try:
            rtp_listener = listen(port, rtp, interface=self.interface)
        except CannotListenError:
            self.refused += 1
            return None
        try:
            rtcp_listener = listen(port + 1, rtcp, interface=self.interface)
        except CannotListenError:
            self.refused += 1
            rtp_listener.stopListening()
            return None
        return rtp_listener, rtcp_listener

    def _wake(self, now: float) -> None:
        # Quarantine is constant, so the resting queue is in time order:
        # move the pairs whose rest is over to the back of the free queue.
        resting = self._resting
        while resting and resting[0][0] <= now:
            self._free.append(resting.popleft()[1])

    def _release(self, pair: PortPair, listeners: tuple[IListeningPort, ...]) -> Deferred[None]:
        if pair.rtp_port not in self._in_use:
            return succeed(None)
        self._in_use.discard(pair.rtp_port)
        self._resting.append((self._clock.seconds() + self.quarantine, pair.rtp_port))
        stopped = [maybeDeferred(listener.stopListening) for listener in listeners]
        done = DeferredList(stopped, consumeErrors=True)

        def report(results: list[tuple[bool, object]]) -> None:
            for ok, failure in results:
                if not ok:
                    self._log.failure("closing RTP port {port}", failure, port=pair.rtp_port)

        return done.addCallback(report)
