"""
A UDP endpoint that records the RTP sent to it, and what tests ask of it.

An interop test points the far end's media at this sink (the SDP of SIPp's
INVITE names its port), then checks what arrived: the packets, their order
and timing, the decoded audio, the RFC 4733 key presses.  The RTP header is
parsed here from RFC 3550 directly, so the check does not share code (or
mistakes) with C{roomkit_sip.rtp}.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime, IReactorUDP
from twisted.internet.protocol import DatagramProtocol

from .pcap import DTMF_EVENTS

_DIGITS = {code: key for key, code in DTMF_EVENTS.items()}


@dataclass(frozen=True)
class RtpPacket:
    """
    One parsed RTP packet (RFC 3550 section 5.1).

    @ivar extension: C{(profile, data)} of a header extension, or C{None}.
    @ivar payload: the payload, padding removed.
    """

    marker: bool
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    csrcs: tuple[int, ...]
    extension: tuple[int, bytes] | None
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket:
    """
    Parse an RTP packet; C{ValueError} says why C{data} is not one.
    """
    if len(data) < 12:
        raise ValueError(f"{len(data)} bytes is shorter than an RTP header")
    first, second, seq, timestamp, ssrc = struct.unpack("!BBHII", data[:12])
    if first >> 6 != 2:
        raise ValueError(f"RTP version {first >> 6}")
    offset = 12 + 4 * (first & 0x0F)
    if len(data) < offset:
        raise ValueError("truncated CSRC list")
    csrcs = struct.unpack(f"!{first & 0x0F}I", data[12:offset])
    extension = None
    if first & 0x10:
        if len(data) < offset + 4:
            raise ValueError("truncated header extension")
        profile, words = struct.unpack("!HH", data[offset : offset + 4])
        end = offset + 4 + 4 * words
        if len(data) < end:
            raise ValueError("truncated header extension")
        extension = (profile, data[offset + 4 : end])
        offset = end
    end = len(data)
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or offset + padding > end:
            raise ValueError(f"bad padding length {padding}")
        end -= padding
    return RtpPacket(
        marker=bool(second & 0x80),
        payload_type=second & 0x7F,
        seq=seq,
        timestamp=timestamp,
        ssrc=ssrc,
        csrcs=csrcs,
        extension=extension,
        payload=data[offset:end],
    )


@dataclass(frozen=True)
class Arrival:
    """
    An RTP packet and when (C{clock.seconds()}) and from where it came.
    """

    time: float
    source: tuple[str, int]
    packet: RtpPacket


@dataclass(frozen=True)
class SequenceReport:
    """
    Sequence-number accounting of one stream (RFC 3550 appendix A.3 in spirit).

    @ivar received: packets received, duplicates included.
    @ivar expected: the span from the lowest to the highest sequence number.
    @ivar missing: sequence numbers in that span never received.
    @ivar duplicates: packets whose sequence number was seen before.
    @ivar reordered: packets that arrived after a later-numbered one.
    @ivar max_interarrival: the longest silence between two arrivals (s).
    """

    received: int
    expected: int
    missing: int
    duplicates: int
    reordered: int
    max_interarrival: float


@dataclass(frozen=True)
class KeyPress:
    """
    One RFC 4733 event: every packet that shares its RTP timestamp.

    @ivar digit: the key (C{"0"}-C{"9"}, C{"*"}, C{"#"}, C{"A"}-C{"D"}).
    @ivar duration: the largest duration reported, in timestamp units.
    @ivar ended: whether a packet with the E bit arrived.
    @ivar packets: packets received for this event.
    """

    digit: str
    timestamp: int
    duration: int
    volume: int
    ended: bool
    packets: int


class RtpSink(DatagramProtocol):
    """
    Record every datagram: parsed RTP in L{arrivals}, the rest in L{invalid}.

    Use L{RtpSink.listen} to bind one on a port the OS chooses, and
    L{RtpSink.stop} in the test's cleanup.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self.arrivals: list[Arrival] = []
        self.invalid: list[tuple[float, tuple[str, int], bytes, str]] = []
        self._port = None
        self._waiters: list[tuple[int, Callable[[Arrival], bool], defer.Deferred]] = []

    @classmethod
    def listen(cls, reactor: IReactorUDP, interface: str = "127.0.0.1", port: int = 0) -> RtpSink:
        """
        A sink listening on C{interface}:C{port} (0: a port the OS chooses).

        @raise twisted.internet.error.CannotListenError: the port is taken.
        """
        sink = cls(reactor)
        sink._port = reactor.listenUDP(port, sink, interface=interface)
        return sink

    @property
    def port(self) -> int:
        return self._port.getHost().port

    @property
    def address(self) -> tuple[str, int]:
        host = self._port.getHost()
        return (host.host, host.port)

    def stop(self) -> defer.Deferred:
        """
        Close the port; fails the waiters still pending.
        """
        port, self._port = self._port, None
        waiters, self._waiters = self._waiters, []
        for wanted, _, d in waiters:
            d.errback(RuntimeError(f"sink stopped {wanted} packets short"))
        if port is None:
            return defer.succeed(None)
        return defer.maybeDeferred(port.stopListening)

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
        now = self.clock.seconds()
        try:
            packet = parse_rtp(data)
        except ValueError as e:
            self.invalid.append((now, addr, data, str(e)))
            return
        arrival = Arrival(now, addr, packet)
        self.arrivals.append(arrival)
        still = []
        for waiter in self._waiters:
            wanted, match, d = waiter
            if not match(arrival):
                still.append(waiter)
            elif wanted > 1:
                still.append((wanted - 1, match, d))
            else:
                d.callback([a for a in self.arrivals if match(a)])
        self._waiters = still

    def wait_for(
        self, count: int, *, payload_type: int | None = None
    ) -> defer.Deferred[list[Arrival]]:
        """
        A Deferred firing with the matching arrivals once C{count} have come.

        It has no timeout of its own: bound it with C{addTimeout(s, reactor)}.
        """

        def match(a: Arrival) -> bool:
            return payload_type is None or a.packet.payload_type == payload_type

        arrived = [a for a in self.arrivals if match(a)]
        if len(arrived) >= count:
            return defer.succeed(arrived)
        d: defer.Deferred[list[Arrival]] = defer.Deferred()
        self._waiters.append((count - len(arrived), match, d))
        return d

    # --- analysis ----------------------------------------------------------

    def stream(self, payload_type: int | None = None) -> list[Arrival]:
        """
        Arrivals of one payload type (all when C{None}), in arrival order.
        """
        return [
            a
            for a in self.arrivals
            if payload_type is None or a.packet.payload_type == payload_type
        ]

    @staticmethod
    def _extended(arrivals: list[Arrival]) -> list[int]:
        """
        Sequence numbers unwrapped across 65535 -> 0, relative to the first.
        """
        out: list[int] = []
        previous = None
        for a in arrivals:
            seq = a.packet.seq
            if previous is None:
                out.append(0)
            else:
                delta = (seq - previous + 32768) % 65536 - 32768
                out.append(out[-1] + delta)
            previous = seq
        return out

    def sequence_report(self, payload_type: int | None = None) -> SequenceReport:
        arrivals = self.stream(payload_type)
        if not arrivals:
            return SequenceReport(0, 0, 0, 0, 0, 0.0)
        ext = self._extended(arrivals)
        seen: set[int] = set()
        duplicates = reordered = 0
        highest = ext[0]
        for n in ext:
            if n in seen:
                duplicates += 1
                continue
            if n < highest:
                reordered += 1
            seen.add(n)
            highest = max(highest, n)
        expected = max(seen) - min(seen) + 1
        gaps = [b.time - a.time for a, b in zip(arrivals, arrivals[1:])]
        return SequenceReport(
            received=len(arrivals),
            expected=expected,
            missing=expected - len(seen),
            duplicates=duplicates,
            reordered=reordered,
            max_interarrival=max(gaps, default=0.0),
        )

    def payloads_in_order(self, payload_type: int) -> list[bytes | None]:
        """
        Payloads by sequence number, duplicates dropped, C{None} for each gap.
        """
        arrivals = self.stream(payload_type)
        by_seq = {}
        for n, a in zip(self._extended(arrivals), arrivals):
            by_seq.setdefault(n, a.packet.payload)
        if not by_seq:
            return []
        return [by_seq.get(n) for n in range(min(by_seq), max(by_seq) + 1)]

    def decoded_frames(
        self, payload_type: int, decode: Callable[[bytes], bytes]
    ) -> list[bytes | None]:
        """
        L{payloads_in_order} decoded to pcm16le (C{None} stays C{None}).
        """
        return [None if p is None else decode(p) for p in self.payloads_in_order(payload_type)]

    def key_presses(self, payload_type: int = 101) -> list[KeyPress]:
        """
        RFC 4733 events received, grouped by (SSRC, timestamp), in order.
        """
        grouped: dict[tuple[int, int], list[RtpPacket]] = {}
        for a in self.stream(payload_type):
            if len(a.packet.payload) < 4:
                continue
            grouped.setdefault((a.packet.ssrc, a.packet.timestamp), []).append(a.packet)
        presses = []
        for (_, timestamp), packets in grouped.items():
            events = [struct.unpack("!BBH", p.payload[:4]) for p in packets]
            code = events[0][0]
            presses.append(
                KeyPress(
                    digit=_DIGITS.get(code, f"event-{code}"),
                    timestamp=timestamp,
                    duration=max(e[2] for e in events),
                    volume=events[0][1] & 0x3F,
                    ended=any(e[1] & 0x80 for e in events),
                    packets=len(packets),
                )
            )
        return presses
