# -*- test-case-name: tests.rtp.test_jitter -*-
"""
The inbound jitter buffer: puts packets back in sequence order, waits a
bounded time for missing ones, and says which frames were lost.  And the
L{Concealer} that turns a lost frame into PCM.

The buffer works on packets and the concealer on decoded PCM, because only
the caller holds the decoder (G.722 decoders are stateful, so payloads must
be decoded in order, once).  So the media session does, per inbound audio
packet::

    for frame in jitter.push(packet, now):
        if frame.kind == NORMAL:
            pcm = decoder.decode(frame.payload)
            concealer.update(pcm)
        else:  # LOST
            pcm = concealer.conceal()
        deliver(pcm)

and calls L{JitterBuffer.poll} from its media clock so that a hole is given
up on time even if no packet follows it.

Ordering is by sequence number only (RFC 3550 §5.1: it increments by one per
packet sent).  Timestamps jump at the start of a talk spurt after silence
suppression (RFC 3551 §4.1, marker bit set) while sequence numbers stay
contiguous, so such a jump is not loss.
"""

from __future__ import annotations

import sys
from array import array
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

from roomkit_sip.rtp.packet import RTPPacket
from roomkit_sip.rtp.stats import Counters

__all__ = ["LOST", "NORMAL", "Concealer", "Frame", "JitterBuffer"]

#: A frame with its payload.
NORMAL = 0
#: A frame that never arrived: conceal it (C{plc}) or play silence.
LOST = 1

_MISSING = object()
_EMPTY: tuple[Frame, ...] = ()
_new = tuple.__new__


class Frame(NamedTuple):
    """
    One frame released by the buffer.

    @ivar kind: L{NORMAL} or L{LOST}.
    @ivar timestamp: RTP timestamp; for L{LOST} frames an estimate from the
        last released frame and the usual timestamp step.
    @ivar payload: the RTP payload, C{b""} for L{LOST} frames.
    """

    kind: int
    sequence: int
    timestamp: int
    payload: bytes
    marker: bool


class JitterBuffer:
    """
    Reorders one source's packets and bounds how long a hole is waited for.

    Release rules:

      - Packets are released in sequence order as soon as they are
        contiguous, once the first C{prefetch} packets of the stream (or of
        the stream after L{reset}) are buffered.  During that initial
        prefetch an earlier packet may still arrive and be played.  (aiortp
        keeps C{prefetch} frames in hand for the whole stream instead; with
        release driven by arrivals that adds C{prefetch} frames of latency
        to every frame.  With roomkit's default of 0 the two agree.)
      - A hole (a missing sequence number with later packets buffered) is
        given up when the buffer holds C{capacity} packets, or when the
        oldest buffered packet has waited C{max_wait} seconds, whichever
        comes first.  The time bound keeps reordering tolerance from turning
        into latency: with 20 ms frames a lost packet delays the stream by
        C{max_wait}, not by C{capacity} frames.  C{max_wait=None} leaves
        only the count bound (aiortp's behaviour).  The same bound ends an
        initial prefetch that never fills.
      - A given-up hole releases one L{LOST} frame per missing sequence
        number, which the caller conceals (C{plc}: the last frame fading to
        silence) or fills with silence; but with C{skip_gaps} and without
        C{plc} the gap is skipped and nothing is released.  At most C{max_fill} L{LOST} frames are
        released per hole: beyond that the timeline is broken anyway and the
        rest is skipped rather than flooding the application.
      - Packets older than the last released one are dropped: C{late} if
        their frame was given up, C{duplicate} otherwise.  A packet that
        arrives after a later one but in time is played and counted
        C{reordered}.

    Packets that use a sequence number without carrying audio (RFC 4733
    events, comfort noise, unknown payload types) must be fed through
    L{push_non_media}, or they would read as holes.
    """

    __slots__ = (
        "capacity",
        "prefetch",
        "skip_gaps",
        "plc",
        "max_wait",
        "max_fill",
        "counters",
        "_packets",
        "_arrivals",
        "_next",
        "_origin",
        "_high",
        "_prefetching",
        "_last_ext",
        "_last_ts",
        "_ts_step",
        "_given_up",
    )

    def __init__(
        self,
        capacity: int = 32,
        prefetch: int = 0,
        skip_gaps: bool = True,
        plc: bool = True,
        *,
        max_wait: float | None = 0.06,
        max_fill: int = 50,
        counters: Counters | None = None,
    ) -> None:
        """
        @param capacity: packets held at most; defaults follow roomkit
            (C{jitter_capacity=32}, C{jitter_prefetch=0}, C{skip_audio_gaps},
            C{plc}).
        @param max_wait: seconds a packet may wait behind a hole or for the
            initial prefetch, or C{None}.
        @param counters: where to count; share the call's L{Counters}.
        """
        if capacity < 1 or not 0 <= prefetch <= capacity:
            raise ValueError("need capacity >= 1 and 0 <= prefetch <= capacity")
        self.capacity = capacity
        self.prefetch = prefetch
        self.skip_gaps = skip_gaps
        self.plc = plc
        self.max_wait = max_wait
        self.max_fill = max_fill
        self.counters = Counters() if counters is None else counters
        self._packets: dict[int, RTPPacket | None] = {}
        self._arrivals: dict[int, float] = {}
        self._given_up: deque[tuple[int, int]] = deque(maxlen=8)
        self.reset()

    def reset(self) -> None:
        """
        Forget the stream (new SSRC, restarted sequence numbers); call
        L{flush} first to play out what it holds.
        """
        self._packets.clear()
        self._arrivals.clear()
        self._given_up.clear()
        # Sequence numbers are unwrapped to unbounded "extended" integers.
        self._next: int | None = None
        self._origin = 0
        self._high = 0
        self._prefetching = self.prefetch > 0
        self._last_ext: int | None = None
        self._last_ts = 0
        self._ts_step = 0

    def push(self, packet: RTPPacket, now: float) -> Sequence[Frame]:
        """
        Add an audio packet that arrived at C{now}.

        @return: the frames now ready, in order (often one, possibly none).
        """
        nxt = self._next
        seq = packet.sequence
        if nxt is None:
            nxt = self._start(seq)
        ext = nxt + (((seq - nxt + 0x8000) & 0xFFFF) - 0x8000)
        if ext == nxt and not self._packets and not self._prefetching:
            # In order with nothing waiting: nearly every packet.
            self._next = nxt + 1
            self._high = ext
            ts = packet.timestamp
            if self._last_ext == ext - 1 and not packet.marker:
                step = (ts - self._last_ts) & 0xFFFFFFFF
                if step < 0x10000:
                    self._ts_step = step
            self._last_ext = ext
            self._last_ts = ts
            return [_new(Frame, (NORMAL, seq, ts, packet.payload, packet.marker))]
        return self._insert(ext, packet, now)

    def push_non_media(self, sequence: int, now: float) -> Sequence[Frame]:
        """
        Account for a packet of this stream that carries no audio (an RFC
        4733 event, comfort noise, an unknown payload type), so its sequence
        number is not taken for a hole.  Nothing is released for it, but it
        may unblock frames behind it.
        """
        nxt = self._next
        if nxt is None:
            nxt = self._start(sequence)
        ext = nxt + (((sequence - nxt + 0x8000) & 0xFFFF) - 0x8000)
        if ext == nxt and not self._packets and not self._prefetching:
            self._next = nxt + 1
            self._high = ext
            return _EMPTY
        return self._insert(ext, None, now)

    def poll(self, now: float) -> Sequence[Frame]:
        """Release what the time bound allows at C{now} (call it from the media clock)."""
        if not self._packets:
            return _EMPTY
        return self._release(now)

    def deadline(self) -> float | None:
        """When L{poll} will next release something, or C{None} if only a packet can."""
        if not self._arrivals or self.max_wait is None:
            return None
        return next(iter(self._arrivals.values())) + self.max_wait

    def flush(self) -> Sequence[Frame]:
        """Release everything buffered, giving up every hole (end of stream)."""
        self._prefetching = False
        out: list[Frame] = []
        while self._packets:
            self._give_up(min(self._packets), out)
            self._drain(out)
        return out

    def __len__(self) -> int:
        """Packets buffered."""
        return len(self._packets)

    def _start(self, seq: int) -> int:
        self._next = self._origin = seq
        self._high = seq - 1
        return seq

    def _insert(self, ext: int, item: RTPPacket | None, now: float) -> Sequence[Frame]:
        counters = self.counters
        packets = self._packets
        if ext < self._next:
            if self._prefetching and self._high - ext < self.capacity:
                # Nothing played yet: an earlier packet moves the start back.
                self._next = self._origin = ext
            elif ext < self._origin:
                counters.late += 1  # from before the stream as we started it
                return _EMPTY
            else:
                # Given up (late) or released (duplicate); the memory of given-up
                # holes is short, older late packets count as duplicates.
                for low, high in self._given_up:
                    if low <= ext < high:
                        counters.late += 1
                        break
                else:
                    counters.duplicate += 1
                return _EMPTY
        if ext in packets:
            counters.duplicate += 1
            return _EMPTY
        if ext < self._high:
            counters.reordered += 1
        else:
            self._high = ext
        packets[ext] = item
        self._arrivals[ext] = now
        return self._release(now)

    def _expired(self, now: float) -> bool:
        return (
            self.max_wait is not None
            and bool(self._arrivals)
            and now - next(iter(self._arrivals.values())) >= self.max_wait
        )

    def _release(self, now: float) -> Sequence[Frame]:
        packets = self._packets
        if self._prefetching:
            if len(packets) < self.prefetch and not self._expired(now):
                return _EMPTY
            self._prefetching = False
        out: list[Frame] = []
        self._drain(out)
        while packets and (len(packets) >= self.capacity or self._expired(now)):
            self._give_up(min(packets), out)
            self._drain(out)
        return out if out else _EMPTY

    def _drain(self, out: list[Frame]) -> None:
        pop = self._packets.pop
        arrivals = self._arrivals
        nxt = self._next
        assert nxt is not None
        while True:
            packet = pop(nxt, _MISSING)
            if packet is _MISSING:
                break
            del arrivals[nxt]
            if packet is not None:
                ts = packet.timestamp
                if self._last_ext == nxt - 1 and not packet.marker:
                    step = (ts - self._last_ts) & 0xFFFFFFFF
                    if step < 0x10000:
                        self._ts_step = step
                self._last_ext = nxt
                self._last_ts = ts
                out.append(
                    _new(Frame, (NORMAL, packet.sequence, ts, packet.payload, packet.marker))
                )
            nxt += 1
        self._next = nxt

    def _give_up(self, target: int, out: list[Frame]) -> None:
        # Declare [next, target) lost; the caller drains from target on.
        nxt = self._next
        assert nxt is not None
        gap = target - nxt
        if gap <= 0:
            return
        self._given_up.append((nxt, target))
        counters = self.counters
        emit = 0 if self.skip_gaps and not self.plc else min(gap, self.max_fill)
        if emit:
            last_ext = self._last_ext
            base_ts = self._last_ts
            step = self._ts_step
            for ext in range(nxt, nxt + emit):
                ts = base_ts if last_ext is None else (base_ts + (ext - last_ext) * step)
                out.append(_new(Frame, (LOST, ext & 0xFFFF, ts & 0xFFFFFFFF, b"", False)))
            if self.plc:
                counters.concealed += emit
            else:
                counters.filled += emit
        counters.skipped += gap - emit
        self._next = target


class Concealer:
    """
    PCM for lost frames (16-bit signed little-endian mono): the last good
    frame repeated, its gain falling linearly from 1 to 0 across
    C{fade_frames} concealed frames so that the first concealed sample
    continues the last real one without a click, then silence.  With
    C{fade_frames=0} every lost frame is silence (silence fill).
    """

    __slots__ = ("fade_frames", "_last", "_count", "_silence")

    def __init__(self, frame_samples: int, fade_frames: int = 3) -> None:
        """
        @param frame_samples: samples per frame, used until a real frame
            has been seen (C{sample_rate * frame_ms / 1000}).
        """
        self.fade_frames = fade_frames
        self._last: bytes | None = None
        self._count = 0
        self._silence = bytes(2 * frame_samples)

    def update(self, pcm: bytes) -> None:
        """Remember a decoded good frame; the next loss starts a new fade."""
        self._last = pcm
        self._count = 0
        if len(pcm) != len(self._silence):
            self._silence = bytes(len(pcm))

    def conceal(self) -> bytes:
        """PCM standing in for one lost frame."""
        n = self._count
        self._count = n + 1
        if self._last is None or n >= self.fade_frames:
            return self._silence
        samples = array("h", self._last)
        if sys.byteorder == "big":
            samples.byteswap()
        length = len(samples)
        total = self.fade_frames * length
        remaining = total - n * length
        for i in range(length):
            samples[i] = samples[i] * (remaining - i) // total
        if sys.byteorder == "big":
            samples.byteswap()
        return samples.tobytes()
