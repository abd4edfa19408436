# -*- test-case-name: tests.media.test_dtmf_out -*-
"""
Sends key presses as RFC 4733 telephone events on the call's audio stream.

L{event_plan} lays an event out: a start packet with the marker bit, an
update every 50 ms, the end packet three times (§2.5.1.4), all carrying the
event's start timestamp (§2.3.1).  This module sends that plan on the
reactor clock, each packet taking the next sequence number of the audio's
L{RtpSequencer} as it goes out, so sequence numbers stay contiguous across
audio and events (one SSRC, one counter, RFC 3550 §5.1).

Audio and events: the event stands for the sound of the key over its
duration (RFC 4733 §2.5), so the paced audio is held back from the event's
start until its last end packet is out, rather than sent alongside it for the
same time span.  Nothing queued is lost, it plays afterwards; the event
starts where the last audio packet ended (no overlap), and the first audio
packet after it carries a timestamp past the event and the marker bit.
Digits sent while an event is under way wait their turn in a bounded queue.
"""

from __future__ import annotations

from collections import deque

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from roomkit_sip.media.outbound import OutboundPath
from roomkit_sip.rtp.dtmf import EventPacket, digit_code, event_plan

#: Module-level on purpose: see "Logging" in docs/architecture.md.
_log = Logger()

__all__ = ["DTMFSender"]

#: Digits waiting behind the one being sent, at most.
MAX_QUEUED = 64


class DTMFSender:
    """
    Telephone events out, one after another.

    @ivar sent: events completely sent.
    """

    def __init__(
        self,
        clock: IReactorTime,
        outbound: OutboundPath,
        payload_type: int,
        clock_rate: int,
        *,
        interval_ms: float = 50.0,
        volume: int = 10,
    ) -> None:
        """
        @param payload_type: the negotiated telephone-event payload type.
        @param clock_rate: its clock (that of the audio, RFC 4733 §2.1).
        @param interval_ms: between updates of one event.
        @param volume: power level in -dBm0 (§2.3.4).
        """
        self._clock = clock
        self._outbound = outbound
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self._interval_ms = interval_ms
        self._volume = volume
        self._queue: deque[tuple[str, float, Deferred[bool]]] = deque()
        self._plan: list[EventPacket] = []
        self._next = 0
        self._started = 0.0
        self._start_ts = 0
        self._current: Deferred[bool] | None = None
        self._timer: IDelayedCall | None = None
        self._closed = False
        self.sent = 0

    @property
    def busy(self) -> bool:
        """An event is being sent."""
        return self._current is not None

    def send(self, digit: str, duration_ms: float = 160.0) -> Deferred[bool]:
        """
        Send one key press.

        @return: fires C{True} once its last packet went out, C{False} if the
            session closed first (or the queue was full).
        @raise ValueError: an unknown digit or a non-positive duration.
        """
        digit_code(digit)
        if duration_ms <= 0:
            raise ValueError("duration must be positive")
        if self._closed:
            return succeed(False)
        if len(self._queue) >= MAX_QUEUED:
            _log.warn("DTMF queue full: dropping digit {digit}", digit=digit)
            return succeed(False)
        done: Deferred[bool] = Deferred()
        self._queue.append((digit, duration_ms, done))
        if self._current is None:
            self._start_next()
        return done

    def set_payload_type(self, payload_type: int, clock_rate: int) -> None:
        """Use another payload type for the events not yet started."""
        self.payload_type = payload_type
        self.clock_rate = clock_rate

    def close(self) -> None:
        """Cancel the event under way and those queued (their Deferreds fire C{False})."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        pending = [d for _, _, d in self._queue]
        self._queue.clear()
        if self._current is not None:
            pending.insert(0, self._current)
            self._current = None
        for d in pending:
            d.callback(False)

    def _start_next(self) -> None:
        if not self._queue:
            return
        digit, duration_ms, done = self._queue.popleft()
        self._plan = event_plan(
            digit,
            duration_ms,
            clock_rate=self.clock_rate,
            volume=self._volume,
            interval_ms=self._interval_ms,
        )
        self._next = 0
        self._current = done
        self._outbound.pause()
        self._start_ts = self._outbound.event_timestamp()
        self._started = self._clock.seconds()
        self._pump()

    def _pump(self) -> None:
        self._timer = None
        if self._closed:
            return
        elapsed = self._clock.seconds() - self._started
        plan = self._plan
        pt = self.payload_type
        # Send what is due (several after a stall, at most the whole plan).
        while self._next < len(plan) and plan[self._next].offset <= elapsed + 1e-9:
            entry = plan[self._next]
            self._next += 1
            timestamp = (self._start_ts + entry.timestamp_offset) & 0xFFFFFFFF
            self._outbound.send_packet(pt, entry.payload, timestamp, entry.marker)
        if self._next < len(plan):
            delay = max(0.0, self._started + plan[self._next].offset - self._clock.seconds())
            self._timer = self._clock.callLater(delay, self._pump)
            return
        done, self._current = self._current, None
        self.sent += 1
        self._outbound.resume()
        if done is not None:
            done.callback(True)
        if self._current is None and not self._closed:
            self._start_next()
