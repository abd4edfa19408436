"""
Shared fixtures of the media tests: a session on a MemoryUDPReactor with
recorders for every callback, an RTP packet builder written from RFC 3550
(so a test does not borrow the code under test), and a wire that carries
datagrams between in-memory ports.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from roomkit_sip.codecs.g711 import PCMU
from roomkit_sip.media import MediaConfig, MediaSession
from roomkit_sip.rtp.pacing import MediaClock
from roomkit_sip.testing import MemoryDatagramPort, MemoryUDPReactor
from roomkit_sip.transport import RTPPortAllocator
from tests.support.audio import tone, ulaw_encode
from tests.support.rtp_sink import RtpPacket, parse_rtp

HOST = "127.0.0.1"
#: The peer's RTP address in memory tests (nothing is really sent).
PEER = (HOST, 40000)
PEER_RTCP = (HOST, 40001)
FRAME = 0.02
PEER_SSRC = 0x5EED1234


def rtp(
    seq: int,
    ts: int,
    payload: bytes = b"",
    *,
    pt: int = 0,
    ssrc: int = PEER_SSRC,
    marker: bool = False,
) -> bytes:
    """An RTP packet without CSRCs or extension (RFC 3550 §5.1)."""
    return (
        struct.pack(
            "!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
        )
        + payload
    )


def event(code: int, end: bool, duration: int, volume: int = 10) -> bytes:
    """A telephone-event payload (RFC 4733 §2.3)."""
    return struct.pack("!BBH", code, (0x80 if end else 0) | volume, duration)


def ulaw_tone_frames(count: int, hz: float = 1000.0) -> list[bytes]:
    """C{count} 20 ms PCMU payloads of a continuous tone."""
    pcm = tone(hz, count * FRAME, peak_dbfs=-10.0)
    return [ulaw_encode(pcm[i * 320 : (i + 1) * 320]) for i in range(count)]


@dataclass
class Recorder:
    audio: list[bytes] = field(default_factory=list)
    digits: list[tuple[str, float]] = field(default_factory=list)
    timeouts: list[str] = field(default_factory=list)
    played: list[tuple] = field(default_factory=list)

    def on_audio(self, pcm: bytes) -> None:
        self.audio.append(pcm)

    def on_dtmf(self, digit: str, duration_ms: float) -> None:
        self.digits.append((digit, duration_ms))

    def on_timeout(self, reason: str) -> None:
        self.timeouts.append(reason)

    def on_played(self, *report) -> None:
        self.played.append(report)


class Harness:
    """One session on its own in-memory reactor, facing a pretend peer."""

    def __init__(
        self,
        codec=PCMU,
        payload_type: int = 0,
        *,
        config: MediaConfig | None = None,
        reactor: MemoryUDPReactor | None = None,
        clock: MediaClock | None = None,
        allocator: RTPPortAllocator | None = None,
        **kwargs,
    ) -> None:
        self.reactor = reactor if reactor is not None else MemoryUDPReactor()
        if reactor is None:
            self.reactor.advance(1000.0)
        self.clock = clock if clock is not None else MediaClock(self.reactor)
        self.allocator = (
            allocator
            if allocator is not None
            else RTPPortAllocator(self.reactor, HOST, 20000, 20100)
        )
        self.ports = self.allocator.allocate()
        self.rec = Recorder()
        kwargs.setdefault("remote_rtp", PEER)
        kwargs.setdefault("rtcp_random", lambda: 0.5)
        self.session = MediaSession(
            self.reactor,
            self.ports,
            codec,
            payload_type,
            media_clock=self.clock,
            config=config,
            on_audio=self.rec.on_audio,
            on_dtmf=self.rec.on_dtmf,
            on_media_timeout=self.rec.on_timeout,
            on_played=self.rec.on_played,
            **kwargs,
        )

    @property
    def rtp_port(self) -> MemoryDatagramPort:
        return self.reactor.udp_port(self.ports.rtp_port)

    @property
    def rtcp_port(self) -> MemoryDatagramPort:
        return self.reactor.udp_port(self.ports.rtcp_port)

    def deliver(self, data: bytes, source: tuple[str, int] = PEER) -> None:
        self.rtp_port.deliver(data, source)

    def sent(self) -> list[tuple[RtpPacket, tuple[str, int]]]:
        """Take the RTP sent so far, parsed."""
        return [(parse_rtp(d), a) for d, a in self.rtp_port.take_written()]

    def advance(self, seconds: float, step: float = FRAME) -> None:
        """Move time on in steps (so the media clock ticks on time)."""
        advance(self.reactor, seconds, step)

    def stats(self) -> dict:
        return self.session.stats()


def advance(reactor: MemoryUDPReactor, seconds: float, step: float = FRAME, each=None) -> None:
    """
    Move C{reactor} on by C{seconds} in steps of C{step}, each to an exact
    multiple of the step from the start (plus a nanosecond, so float
    rounding cannot hold back a tick that is due); call C{each()} after each.
    """
    start = reactor.seconds()
    for k in range(1, round(seconds / step) + 1):
        reactor.advance(max(0.0, start + k * step + 1e-9 - reactor.seconds()))
        if each is not None:
            each()


def pump(reactor: MemoryUDPReactor) -> int:
    """Carry every written datagram to the in-memory port it was sent to."""
    moved = 0
    for (iface, number), port in list(reactor.udp_ports.items()):
        for data, addr in port.take_written():
            target = reactor.udp_ports.get(addr)
            if target is not None and target.listening:
                target.deliver(data, (iface, number))
                moved += 1
    return moved


def own_calls(reactor: MemoryUDPReactor) -> list:
    """The reactor's pending delayed calls."""
    return list(reactor.getDelayedCalls())
