# -*- test-case-name: tests.rtp.test_pacing -*-
"""
Outbound audio pacing: a frame queue per call and the RTP timeline it shares.

Sans-IO except for time: the reactor-wide L{MediaClock} owns the only timer,
however many calls there are, and L{OutboundStream} only reacts to
C{tick(now)}, deciding what goes out on that tick (an audio frame, silence, a
comfort-noise packet, or nothing).  What a frame becomes on the wire (codec,
RTP header, socket) is the media session's job, reached through the
C{on_frame} callback; the session and RFC 4733 telephone events share
sequence numbers and the timeline through L{RtpSequencer}.  Both live in
L{roomkit_sip.rtp.clock} and are re-exported here.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Callable

from twisted.internet.defer import Deferred, succeed

from roomkit_sip.codecs.comfort_noise import QUIETEST, build_payload
from roomkit_sip.interfaces import ICodec
from roomkit_sip.rtp.clock import MediaClock, RtpSequencer, Tickable

__all__ = [
    "FrameCallback", "MediaClock", "OutboundStream", "PlayedCallback", "Playout",
    "RtpSequencer", "Tickable",
]  # fmt: skip

_TS_MOD = 1 << 32

#: C{on_frame(payload, rtp_timestamp, marker, is_comfort_noise)}.
FrameCallback = Callable[[bytes, int, bool, bool], object]
#: C{on_played(pcm, rtp_timestamp, played_bytes, playback_buffer_ms, ended)}.
PlayedCallback = Callable[[bytes, int, int, float, bool], object]


class Playout(enum.Enum):
    """How the audio awaited with L{OutboundStream.when_drained} ended."""

    #: Every frame was sent.
    COMPLETED = "completed"
    #: L{OutboundStream.interrupt} flushed it (barge-in).
    INTERRUPTED = "interrupted"


class _State(enum.Enum):
    IDLE = "idle"  # no response pending: silence fill, comfort noise or nothing
    BUFFERING = "buffering"  # a response is pending, waiting for its prebuffer
    PLAYING = "playing"  # one queued frame per tick


class OutboundStream:
    """
    The outgoing audio of one call: PCM in, one frame per media tick out.

    Talk spurts follow RFC 3551 §4.1: the first audio packet after a tick that
    sent none, or after L{mark_next}, carries the marker bit; with silence
    fill no tick is empty, so only the stream's first packet does.  RTP
    timestamps follow real time: every tick moves the shared L{RtpSequencer}
    timeline on by the frames elapsed since the previous tick, whether a
    packet went out or not and whichever stream made it, while sequence
    numbers (taken by the session per packet sent) stay contiguous.

    A response starts playing once C{prebuffer_ms} of it is queued or
    L{end_of_response} was called, whichever comes first; an underrun (the
    producer fell behind real time) waits for the prebuffer again.

    Between responses, optionally: silence frames (C{silence_fill}) to keep
    the peer's jitter buffer and NAT binding alive, or RFC 3389 comfort noise
    (C{comfort_noise}): a CN packet at the start of every silence (§4) and
    one every C{comfort_noise_interval_ms} while it lasts.  For a CN packet
    C{on_frame} receives the CN payload itself, to be sent unencoded with the
    CN payload type, and C{is_comfort_noise} true.

    C{on_played} reports every audio frame really sent, so the application
    knows what the caller heard: C{pcm} exactly as sent (padding included),
    C{played_bytes} the application's bytes in it (0 for silence fill),
    C{playback_buffer_ms} the audio still queued behind it, and finally one
    empty report with C{ended} true when a response drains or is
    interrupted, its timestamp where playback stopped.  Comfort-noise packets
    are not reported: they carry no audio of ours.
    """

    def __init__(
        self,
        frame_samples: int,
        sample_rate: int,
        ticks_per_frame: int,
        *,
        on_frame: FrameCallback,
        on_played: PlayedCallback | None = None,
        prebuffer_ms: int = 80,
        silence_fill: bool = False,
        comfort_noise: bool = False,
        comfort_noise_level: int = QUIETEST,
        comfort_noise_interval_ms: int = 200,
        sequencer: RtpSequencer | None = None,
    ) -> None:
        """
        @param frame_samples: PCM samples per frame (320 for 20 ms of G.722).
        @param sample_rate: rate of the pushed PCM (16-bit little-endian mono).
        @param ticks_per_frame: RTP clock units per frame (160 for G.722, whose
            clock is 8000 Hz).
        @param comfort_noise_level: noise level to advertise, in -dBov; the
            default, 127, describes the digital silence we really have.
        @param sequencer: shared with the session's DTMF sender; a new one
            with random start values if omitted.
        """
        if min(frame_samples, sample_rate, ticks_per_frame) <= 0:
            raise ValueError("frame_samples, sample_rate and ticks_per_frame must be positive")
        if prebuffer_ms < 0:
            raise ValueError(f"prebuffer_ms must not be negative, got {prebuffer_ms}")
        if silence_fill and comfort_noise:
            raise ValueError("silence_fill and comfort_noise are alternatives; choose one")
        if comfort_noise_interval_ms <= 0:
            raise ValueError("comfort_noise_interval_ms must be positive")
        self._on_frame = on_frame
        self._on_played = on_played
        self._frame_bytes = 2 * frame_samples
        self._sample_rate = sample_rate
        self._ticks = ticks_per_frame
        self._frame_s = frame_samples / sample_rate
        self._prebuffer_frames = max(1, math.ceil(prebuffer_ms / 1000 / self._frame_s - 1e-9))
        self._silence = bytes(self._frame_bytes) if silence_fill else None
        self._cn_payload = build_payload(comfort_noise_level) if comfort_noise else None
        self._cn_interval = comfort_noise_interval_ms / 1000
        self.sequencer = sequencer if sequencer is not None else RtpSequencer()

        self._state = _State.IDLE
        self._queue: deque[tuple[bytes, int]] = deque()  # (frame, application bytes in it)
        self._partial = bytearray()
        self._open = False  # audio pushed since the last end_of_response
        self._queued = 0  # frames ever queued
        self._consumed = 0  # frames ever sent or flushed
        self._waiters: deque[tuple[int, Deferred[Playout]]] = deque()
        self._sent_last = False  # an audio packet went out on the previous tick
        self._cn_due: float | None = None  # when the next CN packet is due
        self._end_ts: int | None = None  # timeline position after the last audio frame

    @classmethod
    def for_codec(cls, codec: ICodec, frame_ms: int = 20, **kwargs) -> OutboundStream:
        """
        A stream framed for C{codec} (an L{roomkit_sip.interfaces.ICodec}):
        C{frame_ms} of its C{sample_rate} PCM per frame, C{frame_ms} of its
        C{clock_rate} per RTP timestamp step.  Other keywords as for the
        constructor.
        """
        return cls(
            codec.sample_rate * frame_ms // 1000,
            codec.sample_rate,
            codec.clock_rate * frame_ms // 1000,
            **kwargs,
        )

    @property
    def frame_ms(self) -> float:
        """Duration of one frame; it must match the L{MediaClock} driving the stream."""
        return self._frame_s * 1000

    @property
    def is_playing(self) -> bool:
        """True from the first push of a response until it drains or is interrupted."""
        return self._state is not _State.IDLE

    @property
    def queued_ms(self) -> float:
        """Audio waiting to be sent, in milliseconds."""
        pending = len(self._queue) * self._frame_bytes + len(self._partial)
        return pending / 2 / self._sample_rate * 1000

    def push(self, pcm: bytes) -> None:
        """
        Queue PCM of any length.  Whole frames are cut at once; a remainder
        waits for more audio or for L{end_of_response} to pad it.
        """
        if not pcm:
            return
        if self._state is _State.IDLE:
            self._state = _State.BUFFERING
            self._end_ts = None
        self._open = True
        self._partial += pcm
        size = self._frame_bytes
        whole = len(self._partial) - len(self._partial) % size
        if whole:
            chunk = bytes(self._partial[:whole])
            del self._partial[:whole]
            self._queue.extend((chunk[i : i + size], size) for i in range(0, whole, size))
            self._queued += whole // size

    def end_of_response(self) -> None:
        """
        The audio pushed so far is a complete response: pad its last partial
        frame with silence and let it play out even if below the prebuffer.
        """
        if self._partial:
            real = len(self._partial)
            self._queue.append((bytes(self._partial) + bytes(self._frame_bytes - real), real))
            self._partial.clear()
            self._queued += 1
        self._open = False
        if self._state is not _State.IDLE and not self._queue:
            self._state = _State.IDLE  # everything already went out
            self._settle(True)

    def when_drained(self) -> Deferred[Playout]:
        """
        A Deferred firing once everything queued so far (a trailing partial
        frame included) has been sent: with L{Playout.COMPLETED}, or with
        L{Playout.INTERRUPTED} if L{interrupt} flushed it first.
        """
        mark = self._queued + (1 if self._partial else 0)
        if mark <= self._consumed:
            return succeed(Playout.COMPLETED)
        waiter: Deferred[Playout] = Deferred()
        self._waiters.append((mark, waiter))
        return waiter

    def interrupt(self) -> bool:
        """
        Barge-in: drop everything queued.  Nothing more of it is sent (the
        frame of the current tick, if any, is already out), drain waiters
        fire with L{Playout.INTERRUPTED} and C{on_played} reports the end.

        @return: whether a response was playing or pending.
        """
        was_playing = self._state is not _State.IDLE
        self._consumed += len(self._queue)
        self._queue.clear()
        self._partial.clear()
        self._open = False
        self._state = _State.IDLE
        waiters, self._waiters = self._waiters, deque()
        try:
            if was_playing:
                self._report_end()
        finally:
            for _, waiter in waiters:
                if not waiter.called:
                    waiter.callback(Playout.INTERRUPTED)
        return was_playing

    def mark_next(self) -> None:
        """
        Start a talk spurt with the next audio packet: it carries the marker
        bit (RFC 3551 §4.1).  For a gap the stream cannot see itself: the
        session dropped its frames (hold, nowhere to send them) or stopped
        ticking it while a telephone event played.
        """
        self._sent_last = False

    def anchor(self, now: float) -> None:
        """
        The stream starts at C{now}: until its first tick, the timeline's
        present counts from there (see L{RtpSequencer.anchor}).  Does nothing
        if the sequencer has already been ticked or anchored.
        """
        self.sequencer.anchor(now, self._frame_s, self._ticks)

    def timestamp_at(self, now: float) -> int:
        """The timeline position of C{now}: L{RtpSequencer.timestamp_at}."""
        return self.sequencer.timestamp_at(now)

    def tick(self, now: float) -> None:
        """One media clock tick at nominal time C{now} (seconds)."""
        timestamp = self.sequencer.tick(now, self._frame_s, self._ticks)
        if self._state is _State.BUFFERING and (
            len(self._queue) >= self._prebuffer_frames or (self._queue and not self._open)
        ):
            self._state = _State.PLAYING
        if self._state is _State.PLAYING:
            if self._queue:
                self._send_audio(timestamp)
                return
            self._state = _State.BUFFERING  # underrun: wait for the prebuffer again
        self._send_idle(timestamp, now)

    def _send_audio(self, timestamp: int) -> None:
        # State first, callbacks last: a callback may push, interrupt or raise.
        frame, real = self._queue.popleft()
        self._consumed += 1
        marker = not self._sent_last
        self._sent_last = True
        self._cn_due = None
        self._end_ts = (timestamp + self._ticks) % _TS_MOD
        finished = not self._queue and not self._partial and not self._open
        if finished:
            self._state = _State.IDLE
        try:
            self._on_frame(frame, timestamp, marker, False)
            if self._on_played is not None:
                self._on_played(frame, timestamp, real, self.queued_ms, False)
        finally:
            self._settle(finished)

    def _send_idle(self, timestamp: int, now: float) -> None:
        if self._silence is not None:
            marker = not self._sent_last
            self._sent_last = True
            self._on_frame(self._silence, timestamp, marker, False)
            if self._on_played is not None:
                self._on_played(self._silence, timestamp, 0, self.queued_ms, False)
            return
        self._sent_last = False
        if self._cn_payload is not None and (self._cn_due is None or now >= self._cn_due - 1e-9):
            self._cn_due = now + self._cn_interval
            self._on_frame(self._cn_payload, timestamp, False, True)

    def _settle(self, finished: bool) -> None:
        """Report a drained response and release the waiters whose audio is out."""
        try:
            if finished:
                self._report_end()
        finally:
            while self._waiters and self._waiters[0][0] <= self._consumed:
                _, waiter = self._waiters.popleft()
                if not waiter.called:
                    waiter.callback(Playout.COMPLETED)

    def _report_end(self) -> None:
        if self._on_played is not None:
            end = self._end_ts if self._end_ts is not None else self.sequencer.timestamp
            self._on_played(b"", end, 0, 0.0, True)
