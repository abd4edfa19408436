# -*- test-case-name: tests.rtp.test_dtmf -*-
"""
RFC 4733 telephone events for DTMF: the 4-octet payload, a receiver that
reports each digit once, and a sender that lays out an event's packets.

Receiving: feed every packet of the negotiated telephone-event payload type
to L{DTMFReceiver.receive}, tell it the timestamp of every audio packet
(L{DTMFReceiver.audio}) and poll it from the media clock.  A digit is
reported once, on the first packet with the E bit, with its duration from
that packet (C{duration / clock_rate * 1000} ms), which is what roomkit's
aiortp-based backend delivered.  Events are told apart by RTP timestamp
(§2.5.1.2: every packet of an event carries the event's start time), so a
digit pressed twice is two events.  Losses are covered:

  - start packets lost: the event is created by whichever packet comes first;
    if that is an end packet the digit is reported at once;
  - every end packet lost: the digit is reported, with the longest duration
    seen, when a newer event starts, when audio resumes past the event's end
    (plus C{audio_guard} seconds, so a sender that keeps audio running
    during the event does not cut it short), or C{end_timeout} seconds after
    the event's last packet (L{DTMFReceiver.poll});
  - late copies of an event already reported (the three end packets,
    reordered updates) are recognised by timestamp and ignored.

Sending: L{event_plan} lays out an event's payloads and send offsets for a
sender that numbers each packet from the audio's sequence counter as it goes
out; L{dtmf_packets} builds the datagrams at once from a given sequence
number.

Long events are sent in segments of at most 0xFFFF timestamp units
(§2.5.1.3); a segment continuing the pending event (same code, no marker,
timestamp at the end of the previous segment) extends it instead of
starting a new digit (§2.5.2.3).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

from roomkit_sip.rtp.errors import MALFORMED, TRUNCATED, EventParseError
from roomkit_sip.rtp.packet import RTPPacket, build_rtp

__all__ = [
    "DTMFDigit",
    "DTMFReceiver",
    "EventBurst",
    "EventPacket",
    "TelephoneEvent",
    "build_event",
    "digit_code",
    "dtmf_packets",
    "event_plan",
    "parse_event",
]

#: Event codes 0-15 are the DTMF digits in this order, 16 is flash (RFC 4733 §3.2).
DIGITS = "0123456789*#ABCD"
FLASH = 16
#: How flash (hook flash, event 16) is spelled, as in dial strings.
FLASH_DIGIT = "!"
#: Largest value of the 16-bit duration field, the longest segment (§2.5.1.3).
MAX_SEGMENT = 0xFFFF

_CODE_TO_DIGIT = DIGITS + FLASH_DIGIT
_DIGIT_TO_CODE = {c: i for i, c in enumerate(_CODE_TO_DIGIT)}
_DIGIT_TO_CODE.update({c.lower(): i for i, c in enumerate(DIGITS) if c.isalpha()})
_EVENT = struct.Struct("!BBH")
_EMPTY: tuple[DTMFDigit, ...] = ()


class TelephoneEvent(NamedTuple):
    """The first 4 octets of a telephone-event payload (RFC 4733 §2.3)."""

    event: int
    end: bool
    #: Power level in -dBm0 (0-63), §2.3.4.
    volume: int
    #: In timestamp units since the event (segment) started, §2.3.5.
    duration: int


class DTMFDigit(NamedTuple):
    """A digit received, reported once per event."""

    digit: str
    duration_ms: float
    #: RTP timestamp of the event's start.
    timestamp: int
    event: int


def digit_code(digit: str) -> int:
    """
    The event code of C{digit}: C{0}-C{9}, C{*}, C{#}, C{A}-C{D} (either
    case) or C{!} for flash.

    @raise ValueError: for anything else.
    """
    try:
        return _DIGIT_TO_CODE[digit]
    except KeyError:
        raise ValueError(f"not a DTMF digit: {digit!r}") from None


def parse_event(payload: bytes) -> TelephoneEvent:
    """
    Parse the first event of a telephone-event payload.  A payload carrying
    several events (§2.5.1.5) is read as its first one.

    @raise EventParseError: if the payload is shorter than 4 octets.
    """
    if len(payload) < 4:
        raise EventParseError(TRUNCATED, f"{len(payload)} octets")
    event, flags, duration = _EVENT.unpack_from(payload)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


def build_event(event: int, end: bool, volume: int, duration: int) -> bytes:
    """Serialise a telephone-event payload; the R bit is sent as 0 (§2.3.3)."""
    if not (0 <= event <= 255 and 0 <= volume <= 63 and 0 <= duration <= MAX_SEGMENT):
        raise EventParseError(MALFORMED, f"event {event} volume {volume} duration {duration}")
    return _EVENT.pack(event, (0x80 if end else 0) | volume, duration)


class DTMFReceiver:
    """
    Turns the telephone-event packets of one source into digits.

    @ivar invalid: packets whose payload was too short to be an event.
    @ivar ignored: events outside DTMF and flash (codes above 16).
    """

    __slots__ = (
        "clock_rate",
        "end_timeout",
        "audio_guard",
        "invalid",
        "ignored",
        "_ts",
        "_start_ts",
        "_code",
        "_duration",
        "_base",
        "_reported",
        "_last_seen",
        "_recent",
    )

    def __init__(
        self, clock_rate: int, *, end_timeout: float = 0.5, audio_guard: float = 0.1
    ) -> None:
        """
        @param clock_rate: the telephone-event clock (that of the audio, §2.1).
        @param end_timeout: seconds without a packet after which a pending
            event is reported; senders update every 50 ms or so.
        @param audio_guard: seconds past an event's known end that audio
            must reach before it ends the event.
        """
        self.clock_rate = clock_rate
        self.end_timeout = end_timeout
        self.audio_guard = audio_guard
        self.invalid = 0
        self.ignored = 0
        self._recent: deque[int] = deque(maxlen=8)
        self._ts: int | None = None
        self.flush()

    def receive(self, packet: RTPPacket, now: float) -> Sequence[DTMFDigit]:
        """
        Handle one telephone-event packet.

        @return: the digits completed by this packet (usually none, at most two).
        """
        payload = packet.payload
        if len(payload) < 4:
            self.invalid += 1
            return _EMPTY
        code, flags, duration = _EVENT.unpack_from(payload)
        if code > FLASH:
            self.ignored += 1
            return _EMPTY
        ts = packet.timestamp
        out: Sequence[DTMFDigit] = _EMPTY
        current = self._ts
        if ts != current:
            if ts in self._recent:
                return _EMPTY  # a late copy of an event already handled
            if current is not None and self._continues(ts, code, packet.marker):
                self._base += (ts - current) & 0xFFFFFFFF
                self._ts = ts
                self._duration = 0
                self._recent.append(ts)
            else:
                if current is not None and not self._reported:
                    out = [self._report()]
                self._begin(ts, code)
        elif self._reported:
            return _EMPTY
        if duration > self._duration:
            self._duration = duration
        self._last_seen = now
        if flags & 0x80:
            self._duration = duration
            digit = self._report()
            return [*out, digit] if out else [digit]
        return out

    def audio(self, timestamp: int, now: float) -> Sequence[DTMFDigit]:
        """
        Tell the receiver an audio packet arrived: audio past the pending
        event's end means the sender finished it.
        """
        current = self._ts
        if current is None or self._reported:
            return _EMPTY
        end = current + self._duration + int(self.audio_guard * self.clock_rate)
        if 0 < (timestamp - end) & 0xFFFFFFFF < 0x80000000:
            return [self._report()]
        return _EMPTY

    def poll(self, now: float) -> Sequence[DTMFDigit]:
        """Report a pending event whose packets stopped C{end_timeout} ago."""
        if self._ts is None or self._reported or now - self._last_seen < self.end_timeout:
            return _EMPTY
        return [self._report()]

    def deadline(self) -> float | None:
        """When L{poll} would report the pending event, or C{None}."""
        if self._ts is None or self._reported:
            return None
        return self._last_seen + self.end_timeout

    def flush(self) -> Sequence[DTMFDigit]:
        """
        Report any pending event and forget the source (new SSRC, restarted
        stream, end of call).
        """
        out = [self._report()] if self._ts is not None and not self._reported else _EMPTY
        self._ts = None
        self._start_ts = 0
        self._code = 0
        self._duration = 0
        self._base = 0
        self._reported = False
        self._last_seen = 0.0
        self._recent.clear()
        return out

    def _continues(self, ts: int, code: int, marker: bool) -> bool:
        # §2.5.2.3: a new segment of the same, unfinished event starts where
        # the previous segment ended; segments other than the last are full.
        if self._reported or marker or code != self._code:
            return False
        step = (ts - self._ts) & 0xFFFFFFFF  # type: ignore[operator]
        return step == MAX_SEGMENT or (step == self._duration and step > 0)

    def _begin(self, ts: int, code: int) -> None:
        self._ts = ts
        self._start_ts = ts
        self._code = code
        self._duration = 0
        self._base = 0
        self._reported = False
        self._recent.append(ts)

    def _report(self) -> DTMFDigit:
        self._reported = True
        total = self._base + self._duration
        return DTMFDigit(
            _CODE_TO_DIGIT[self._code],
            total * 1000.0 / self.clock_rate,
            self._start_ts,
            self._code,
        )


class EventPacket(NamedTuple):
    """One packet of an event, before it gets its sequence number."""

    #: Seconds from the event's start at which to send it.
    offset: float
    #: To add to the event's start timestamp (non-zero in later segments).
    timestamp_offset: int
    marker: bool
    payload: bytes


class EventBurst(NamedTuple):
    """The packets of one event, ready to send."""

    #: C{(offset, datagram)} in sending order; C{offset} in seconds from the
    #: event's start.
    packets: list[tuple[float, bytes]]
    #: The sequence number the audio continues with.
    next_sequence: int
    #: Seconds from the event's start to its last packet; audio resumes after it.
    end_offset: float
    #: Event duration in timestamp units.
    duration: int


def event_plan(
    digit: str,
    duration_ms: float,
    *,
    clock_rate: int,
    volume: int = 10,
    interval_ms: float = 50.0,
) -> list[EventPacket]:
    """
    Lay out the packets of one event (RFC 4733 §2.5.1), in sending order: a
    start packet with the marker bit, an update every C{interval_ms}, then
    the end packet three times, C{interval_ms} apart (§2.5.1.4).  Every
    packet carries the event's start timestamp, the audio timestamp when the
    event begins.  Events longer than 0xFFFF timestamp units are split into
    segments (§2.5.1.3): each further segment's timestamp is its start time,
    its final packet is also sent three times, and only the last segment
    ends with the E bit.

    Each packet takes the next sequence number of the audio stream when it
    is sent, so that telephone events and audio share one counter.

    @param volume: power level in -dBm0 (0-63); 10 means -10 dBm0.
    @raise ValueError: for an unknown digit or a non-positive duration.
    """
    code = digit_code(digit)
    if duration_ms <= 0:
        raise ValueError("duration must be positive")
    total = max(1, round(duration_ms * clock_rate / 1000))
    step = max(1, round(interval_ms * clock_rate / 1000))
    # (send tick, order at equal ticks, segment offset, duration, end, marker)
    plan = []
    for tick in range(0, total, step):
        segment = tick - tick % MAX_SEGMENT
        plan.append((tick, 1, segment, tick - segment, False, tick == 0))
    last = (total - 1) // MAX_SEGMENT * MAX_SEGMENT
    for segment in range(0, last, MAX_SEGMENT):
        for k in range(3):
            plan.append((segment + MAX_SEGMENT + k * step, 0, segment, MAX_SEGMENT, False, False))
    for k in range(3):
        plan.append((total + k * step, 0, last, total - last, True, False))
    plan.sort(key=lambda entry: entry[:2])
    return [
        EventPacket(tick / clock_rate, segment, marker, build_event(code, end, volume, duration))
        for tick, _, segment, duration, end, marker in plan
    ]


def dtmf_packets(
    digit: str,
    duration_ms: float,
    *,
    payload_type: int,
    ssrc: int,
    timestamp: int,
    sequence: int,
    clock_rate: int,
    volume: int = 10,
    interval_ms: float = 50.0,
) -> EventBurst:
    """
    The datagrams of one event laid out by L{event_plan}, numbered from
    C{sequence} with C{timestamp} as the event's start: for a sender that
    reserves the sequence numbers of the whole event at once and sends no
    audio until C{end_offset}.

    @raise ValueError: for an unknown digit or a non-positive duration.
    """
    plan = event_plan(
        digit, duration_ms, clock_rate=clock_rate, volume=volume, interval_ms=interval_ms
    )
    packets = [
        (
            entry.offset,
            build_rtp(
                payload_type,
                (sequence + i) & 0xFFFF,
                (timestamp + entry.timestamp_offset) & 0xFFFFFFFF,
                ssrc,
                entry.payload,
                marker=entry.marker,
            ),
        )
        for i, entry in enumerate(plan)
    ]
    duration = round(duration_ms * clock_rate / 1000)
    return EventBurst(packets, (sequence + len(plan)) & 0xFFFF, plan[-1].offset, max(1, duration))
