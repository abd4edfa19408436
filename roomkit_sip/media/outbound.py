# -*- test-case-name: tests.media.test_outbound -*-
"""
The send path of one call: PCM from the application, paced by the shared
L{MediaClock}, encoded and sent as RTP.

The L{OutboundStream} decides what goes out on each 20 ms tick; this module
turns its frames into packets: a fresh encoder per stream (G.722 is ADPCM),
the sequence number from the L{RtpSequencer} that RFC 4733 events share, the
stream's timestamp and marker, the negotiated payload type (or CN's, RFC
3389), and C{sendto} the current target.

The session decides where packets go (L{OutboundPath.target}).  While there
is nowhere to send (hold, no usable address yet, direction without send) the
stream keeps its pace and its frames are dropped: the audio plays into the
void as it would on a held line, so drain waiters still fire and the
timeline keeps real time.  The first packet after such a gap, or after a
telephone event, carries the marker bit: it starts a talk spurt (RFC 3551
§4.1).
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from roomkit_sip.interfaces import ICodec, IEncoder
from roomkit_sip.media.config import MediaConfig
from roomkit_sip.rtp.pacing import MediaClock, OutboundStream, Playout, RtpSequencer
from roomkit_sip.rtp.packet import build_rtp, ts_newer
from roomkit_sip.rtp.stats import SenderStats
from roomkit_sip.transport.rtp import Addr

#: Module-level on purpose: see "Logging" in docs/architecture.md.
_log = Logger()

__all__ = ["OutboundPath", "PlayedCallback"]

#: C{on_played(pcm, rtp_timestamp, played_bytes, queued_ms, ended)}: the fields
#: of L{roomkit_sip.engine.PlayedFrame}, in its order.
PlayedCallback = Callable[[bytes, int, int, float, bool], object]

#: A direct frame continues the previous packet's timeline if that went out
#: less than this long ago; otherwise it starts a talk spurt at the present.
_DIRECT_CONTINUES = 0.1


def _completed(result: Playout) -> bool:
    return result is Playout.COMPLETED


class OutboundPath:
    """
    Paces, encodes and sends one call's audio.

    @ivar target: where RTP goes, or C{None} to send nothing.
    @ivar suppressed: frames dropped because there was no target.
    @ivar sequencer: sequence numbers and timeline, shared with DTMF.
    @ivar sender: what we sent, for RTCP sender reports.
    """

    def __init__(
        self,
        clock: IReactorTime,
        media_clock: MediaClock,
        codec: ICodec,
        payload_type: int,
        config: MediaConfig,
        *,
        ssrc: int,
        sendto: Callable[[bytes, Addr], bool],
        cn_payload_type: int | None,
        on_played: PlayedCallback | None,
        sequencer: RtpSequencer | None = None,
    ) -> None:
        self._clock = clock
        self._media_clock = media_clock
        self._config = config
        self._sendto = sendto
        self._on_played = on_played
        self.ssrc = ssrc
        self.sequencer = sequencer if sequencer is not None else RtpSequencer()
        self.sender = SenderStats(codec.clock_rate)
        self.target: Addr | None = None
        self.suppressed = 0
        self.bytes_out = 0
        self._gap = False  # something went unsent: a direct frame starts a talk spurt
        self._dropped_last = False  # the frame just handled was not sent
        self._last_end_ts: int | None = None  # timeline after the last packet sent
        self._last_sent_at = float("-inf")
        self._paused = False
        self._closed = False
        self._cn_requested = cn_payload_type
        self._stream: OutboundStream | None = None
        self._set_codec(codec, payload_type)
        self._stream.anchor(clock.seconds())  # type: ignore[union-attr]
        media_clock.register(self)

    # -- media clock ------------------------------------------------------

    @property
    def frame_ms(self) -> float:
        """The duration of a frame, checked by the media clock."""
        return self._stream.frame_ms  # type: ignore[union-attr]

    def tick(self, now: float) -> None:
        """A media clock tick."""
        self._stream.tick(now)  # type: ignore[union-attr]

    def present_timestamp(self) -> int:
        """The timeline position of the present moment, in whole frames."""
        return self.sequencer.timestamp_at(self._clock.seconds())

    # -- application audio ------------------------------------------------

    @property
    def is_playing(self) -> bool:
        """Audio queued or being sent."""
        return self._stream.is_playing  # type: ignore[union-attr]

    def push(self, pcm: bytes) -> None:
        """Queue PCM (16-bit little-endian mono at the codec's sample rate)."""
        if not self._closed:
            self._stream.push(pcm)  # type: ignore[union-attr]

    def end_of_response(self) -> None:
        """What was pushed is a whole response: pad the last frame and play it out."""
        if not self._closed:
            self._stream.end_of_response()  # type: ignore[union-attr]

    def when_drained(self) -> Deferred[bool]:
        """Fires C{True} once what was queued went out, C{False} if interrupted first."""
        return self._stream.when_drained().addCallback(_completed)  # type: ignore[union-attr]

    def interrupt(self) -> bool:
        """Barge-in: drop the queue; nothing more of it is sent.  Whether something played."""
        return self._stream.interrupt()  # type: ignore[union-attr]

    def send_now(self, pcm: bytes) -> bool:
        """
        Encode and send C{pcm} as one packet at once, bypassing the pacer (a
        bridge delivering real-time frames).  It continues the timeline of
        the previous packet when that is recent, else starts a talk spurt at
        the present position; do not mix it with paced audio in one spurt.

        @return: whether a packet went out.
        """
        if self._closed or not pcm:
            return False
        now = self._clock.seconds()
        end = self._last_end_ts
        timestamp = self.present_timestamp()
        marker = True
        if end is not None and (
            now - self._last_sent_at < _DIRECT_CONTINUES or ts_newer(end, timestamp)
        ):
            timestamp = end
            marker = self._gap
        samples = len(pcm) // 2
        ticks = samples * self._ticks_per_frame // self._frame_samples
        payload = self._encoder.encode(pcm)
        sent = self._send(self.payload_type, payload, timestamp, marker, True, ticks)
        if sent and self._on_played is not None:
            self._played(pcm, timestamp, len(pcm), 0.0, False)
        return sent

    # -- telephone events (RFC 4733) --------------------------------------

    def pause(self) -> None:
        """Hold paced audio back (a telephone event is being sent); the queue waits."""
        if not self._paused and not self._closed:
            self._paused = True
            self._media_clock.unregister(self)

    def resume(self) -> None:
        """Let paced audio go again; its first packet starts a talk spurt."""
        if self._paused and not self._closed:
            self._paused = False
            self._gap = True
            self._stream.mark_next()  # type: ignore[union-attr]
            self._media_clock.register(self)

    def event_timestamp(self) -> int:
        """
        The RTP timestamp for an event starting now: the end of the last
        packet sent if that lies ahead of the present (an event must not
        overlap audio already sent), else the present.
        """
        timestamp = self.present_timestamp()
        end = self._last_end_ts
        if end is not None and ts_newer(end, timestamp):
            return end
        return timestamp

    def send_packet(self, payload_type: int, payload: bytes, timestamp: int, marker: bool) -> bool:
        """Send a non-audio packet (a telephone event) on the stream's sequence."""
        if self._closed:
            return False
        return self._send(payload_type, payload, timestamp, marker, False, 0)

    # -- control ----------------------------------------------------------

    def set_codec(self, codec: ICodec, payload_type: int) -> None:
        """
        Send C{codec} on C{payload_type} from now on: a fresh encoder; if the
        frame shape changes, queued audio (framed for the old codec) is
        dropped as by L{interrupt}.
        """
        old = self._stream
        self._set_codec(codec, payload_type)
        if old is not self._stream and old is not None:
            old.interrupt()  # the new stream carries on the sequencer's timeline

    def close(self) -> None:
        """Stop ticking; pending drain waiters fire C{False}.  Idempotent."""
        if self._closed:
            return
        self._media_clock.unregister(self)
        try:
            self._stream.interrupt()  # type: ignore[union-attr]
        finally:
            self._closed = True

    # -- internals --------------------------------------------------------

    def _set_codec(self, codec: ICodec, payload_type: int) -> None:
        frame_ms = self._media_clock.frame_ms
        frame_samples = codec.sample_rate * frame_ms // 1000
        ticks = codec.clock_rate * frame_ms // 1000
        self.codec = codec
        self.payload_type = payload_type
        self._encoder: IEncoder = codec.new_encoder()
        self.sender.clock_rate = codec.clock_rate
        # RFC 3389 CN is defined on an 8000 Hz clock (RFC 3551 §6).
        cn = self._cn_requested if codec.clock_rate == 8000 else None
        self.cn_payload_type = cn if self._config.comfort_noise else None
        shape = (frame_samples, codec.sample_rate, ticks)
        if self._stream is not None and shape == self._shape:
            return
        self._shape = shape
        self._frame_samples = frame_samples
        self._ticks_per_frame = ticks
        self._stream = OutboundStream(
            frame_samples,
            codec.sample_rate,
            ticks,
            on_frame=self._on_frame,
            on_played=self._on_stream_played if self._on_played is not None else None,
            prebuffer_ms=self._config.pacer_prebuffer_ms,
            silence_fill=self._config.outbound_silence_fill,
            comfort_noise=self.cn_payload_type is not None,
            sequencer=self.sequencer,
        )

    def _on_frame(self, frame: bytes, timestamp: int, marker: bool, comfort: bool) -> None:
        if self.target is None:
            self._unsent()
            self._dropped_last = True
            return
        self._dropped_last = False
        if comfort:
            self._send(
                self.cn_payload_type,
                frame,
                timestamp,
                marker,  # type: ignore[arg-type]
                True,
                self._ticks_per_frame,
            )
            return
        payload = self._encoder.encode(frame)
        self._send(self.payload_type, payload, timestamp, marker, True, self._ticks_per_frame)

    def _send(
        self,
        payload_type: int,
        payload: bytes,
        timestamp: int,
        marker: bool,
        timing: bool,
        ticks: int,
    ) -> bool:
        target = self.target
        if target is None:
            self._unsent()
            return False
        data = build_rtp(
            payload_type, self.sequencer.next_seq(), timestamp, self.ssrc, payload, marker=marker
        )
        now = self._clock.seconds()
        self.sender.sent(timestamp, len(payload), now, timing)
        self.bytes_out += len(data)
        if timing:
            self._gap = False
            self._last_end_ts = (timestamp + ticks) & 0xFFFFFFFF
            self._last_sent_at = now
        return self._sendto(data, target)

    def _unsent(self) -> None:
        # Whatever goes out after a gap starts a talk spurt (RFC 3551 §4.1).
        self.suppressed += 1
        self._gap = True
        self._stream.mark_next()  # type: ignore[union-attr]

    def _on_stream_played(
        self, pcm: bytes, timestamp: int, played: int, queued_ms: float, ended: bool
    ) -> None:
        # Only what really went out is reported; the end of a response always is.
        if ended or not self._dropped_last:
            self._played(pcm, timestamp, played, queued_ms, ended)

    def _played(
        self, pcm: bytes, timestamp: int, played: int, queued_ms: float, ended: bool
    ) -> None:
        try:
            self._on_played(pcm, timestamp, played, queued_ms, ended)  # type: ignore[misc]
        except Exception:
            _log.failure("on_played callback failed")
