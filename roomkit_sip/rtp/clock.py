# -*- test-case-name: tests.rtp.test_pacing -*-
"""
Time for outbound media: when frames go (L{MediaClock}, the one frame timer
every call's outbound audio runs on) and where they sit on the RTP clock
(L{RtpSequencer}, the sequence numbers and timeline of one SSRC).

Sans-IO except for time, which comes from the injected C{IReactorTime}: the
media clock owns a single C{IDelayedCall} however many streams it drives, and
a stream is anything with C{tick(now)} (L{Tickable}), in practice an
L{roomkit_sip.rtp.pacing.OutboundStream} or the media session wrapping one.
"""

from __future__ import annotations

import secrets
from typing import Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

__all__ = ["MediaClock", "RtpSequencer", "Tickable"]

_SEQ_MOD = 1 << 16
_TS_MOD = 1 << 32
#: Slack, in ticks, when turning elapsed seconds into a tick count (float error).
_TICK_SLACK = 1e-6
#: Slack, in frames, when counting the whole frames elapsed (float error).
_FRAME_SLACK = 1e-6


class Tickable(Protocol):
    """What L{MediaClock} drives: anything with C{tick(now)}."""

    def tick(self, now: float) -> None: ...


class MediaClock:
    """
    The single frame timer every call's outbound audio runs on.

    Tick M{n} is due at M{start + n * frame}, computed from the start and never
    from the previous tick, so the lateness of one wake-up does not accumulate
    (no drift).  C{tick(now)} receives that nominal time.  One C{IDelayedCall}
    is re-armed after each wake-up against C{clock.seconds()}, and only while
    a stream is registered: no idle wake-ups, no timer left behind by the
    last call; the next registration starts a fresh grid.

    After a stall (a blocked reactor), at most C{max_catch_up_frames} overdue
    ticks are delivered back to back, the most recent ones; older ticks are
    skipped and counted in L{skipped_ticks}.  The default, 3 (60 ms of
    audio), is a burst of about the size of a receiver's jitter buffer, which
    the peer absorbs; replaying a long stall would only overflow that buffer
    or add latency.  A skipped tick sends nothing: queued audio is delayed,
    never dropped, and the RTP timestamp still jumps over the stall so that
    it keeps matching real time.

    @ivar ticks: ticks delivered so far.
    @ivar skipped_ticks: ticks dropped after stalls.
    """

    _log = Logger()

    def __init__(
        self, clock: IReactorTime, frame_ms: int = 20, max_catch_up_frames: int = 3
    ) -> None:
        if frame_ms <= 0:
            raise ValueError(f"frame_ms must be positive, got {frame_ms}")
        if max_catch_up_frames < 1:
            raise ValueError(f"max_catch_up_frames must be at least 1, got {max_catch_up_frames}")
        self._clock = clock
        self.frame_ms = frame_ms
        self._period = frame_ms / 1000
        self._max_catch_up = max_catch_up_frames
        self._streams: dict[Tickable, None] = {}
        self._timer: IDelayedCall | None = None
        self._firing = False
        self._start = 0.0
        self._index = 0
        self.ticks = 0
        self.skipped_ticks = 0

    def register(self, stream: Tickable) -> None:
        """
        Start ticking C{stream} (from the next tick on); idempotent.

        @raise ValueError: C{stream} declares a C{frame_ms} other than this
            clock's: its frames would play too fast or too slow.
        """
        frame_ms = getattr(stream, "frame_ms", self.frame_ms)
        if abs(frame_ms - self.frame_ms) > 1e-9:
            raise ValueError(f"a {frame_ms} ms stream cannot run on a {self.frame_ms} ms clock")
        self._streams[stream] = None
        if self._timer is None and not self._firing:
            self._start = self._clock.seconds()
            self._index = 0
            self._arm()

    def unregister(self, stream: Tickable) -> None:
        """Stop ticking C{stream}; the timer goes with the last stream.  Idempotent."""
        self._streams.pop(stream, None)
        if not self._streams and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def __len__(self) -> int:
        return len(self._streams)

    def __contains__(self, stream: object) -> bool:
        return stream in self._streams

    @property
    def running(self) -> bool:
        """Whether a timer is pending (true exactly while streams are registered)."""
        return self._timer is not None

    def _arm(self) -> None:
        due = self._start + (self._index + 1) * self._period
        self._timer = self._clock.callLater(max(0.0, due - self._clock.seconds()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._firing = True
        try:
            elapsed = (self._clock.seconds() - self._start) / self._period
            due = int(elapsed + _TICK_SLACK)
            owed = due - self._index
            if owed > self._max_catch_up:
                skipped = owed - self._max_catch_up
                self._index += skipped
                self.skipped_ticks += skipped
                self._log.warn(
                    "media clock woke {late_ms:.0f} ms late: skipped {skipped} ticks",
                    late_ms=(owed - 1) * self.frame_ms,
                    skipped=skipped,
                )
            while self._index < due and self._streams:
                self._index += 1
                self.ticks += 1
                self._deliver(self._start + self._index * self._period)
        finally:
            self._firing = False
        if self._streams:
            self._arm()

    def _deliver(self, now: float) -> None:
        for stream in list(self._streams):
            if stream not in self._streams:
                continue  # unregistered by an earlier stream during this tick
            try:
                stream.tick(now)
            except Exception:
                self._log.failure("media tick failed for {stream!r}", stream=stream)


class RtpSequencer:
    """
    Sequence number and timestamp state of one outgoing RTP stream (one SSRC).

    Audio and RFC 4733 telephone events travel on the same SSRC, so they must
    draw from one sequence counter and one timeline: the media session calls
    L{next_seq} for every packet it sends, whatever the payload, and an event
    starting now takes L{timestamp_at}, so it lines up with the audio around
    it.  Both start at random values (RFC 3550 §5.1).

    The timeline belongs to the sequencer, not to the stream ticking it: it
    remembers when and at what rate it was last ticked, so a stream that
    takes over (a new codec mid-call) carries on from where the previous one
    stopped, and the position between two ticks can be told.  One stream
    ticks a sequencer at a time.

    @ivar timestamp: the RTP timestamp of the last media tick.  L{tick}
        advances it by the frames that really elapsed, sent or not, so it
        always tracks real time.
    """

    __slots__ = ("_seq", "timestamp", "_at", "_frame_s", "_frame_ticks", "_min_frames")

    def __init__(self, seq: int | None = None, timestamp: int | None = None) -> None:
        self._seq = secrets.randbelow(_SEQ_MOD) if seq is None else seq % _SEQ_MOD
        self.timestamp = secrets.randbelow(_TS_MOD) if timestamp is None else timestamp % _TS_MOD
        self._at: float | None = None  # when the timeline stood at `timestamp`
        self._frame_s = 0.0  # the rate of the time since: seconds and
        self._frame_ticks = 0  # RTP clock units per frame
        self._min_frames = 0  # 1 once a tick has stamped `timestamp`

    def next_seq(self) -> int:
        """Take the sequence number for the next packet (wraps at 2**16)."""
        seq = self._seq
        self._seq = (seq + 1) % _SEQ_MOD
        return seq

    def advance(self, ticks: int) -> None:
        """Move the timeline on by C{ticks} RTP clock units (wraps at 2**32)."""
        self.timestamp = (self.timestamp + ticks) % _TS_MOD

    def anchor(self, now: float, frame_seconds: float, ticks_per_frame: int) -> None:
        """
        Say that L{timestamp} is the present at C{now}, before any tick, so
        that L{timestamp_at} counts from there (an event sent before the
        first audio tick) and the first tick moves on by the whole frames
        elapsed since, possibly none.  Ignored once the timeline has a
        reference point: a stream taking over must not rewind it.
        """
        if self._at is None:
            self._at, self._frame_s, self._frame_ticks = now, frame_seconds, ticks_per_frame

    def tick(self, now: float, frame_seconds: float, ticks_per_frame: int) -> int:
        """
        Put the media tick at nominal time C{now} on the timeline.

        The timeline moves on by the frames elapsed since the previous tick
        (or anchor), counted at that tick's rate, whichever stream made it;
        at least one frame after a tick, so no two ticks share a timestamp.
        C{frame_seconds} and C{ticks_per_frame} are the ticking stream's,
        and rate the time until the next tick.

        @return: the tick's timestamp, now L{timestamp}.
        """
        if self._at is not None:
            frames = round((now - self._at) / self._frame_s)
            self.advance(max(self._min_frames, frames) * self._frame_ticks)
        self._at, self._frame_s, self._frame_ticks = now, frame_seconds, ticks_per_frame
        self._min_frames = 1
        return self.timestamp

    def timestamp_at(self, now: float) -> int:
        """
        Where C{now} lies on the timeline, in whole frames: the last tick's
        timestamp plus the frames completed since, at its rate, which the
        next tick catches up on (also after a pause in ticking).  Before any
        tick or anchor, L{timestamp}.
        """
        if self._at is None:
            return self.timestamp
        frames = int((now - self._at) / self._frame_s + _FRAME_SLACK)
        return (self.timestamp + max(0, frames) * self._frame_ticks) % _TS_MOD
