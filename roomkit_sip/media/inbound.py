# -*- test-case-name: tests.media.test_inbound -*-
"""
The receive path of one call, from a parsed RTP packet to decoded PCM and
digits handed to the owner.

Per packet: payload type check (a type not negotiated is counted and
dropped), reception statistics (RFC 3550 A.1, A.3, A.8; a new SSRC or a
restarted sequence starts a new stream: the jitter buffer is played out and
reset, the next packet gets a fresh decoder, a pending digit is reported),
then by payload type:

  - audio: jitter buffer, decoder, and a concealment frame for each frame the
    buffer gives up on (C{plc}), delivered as ordinary PCM frames at the
    codec's sample rate;
  - telephone events (RFC 4733): the L{DTMFReceiver}, which reports each key
    press once;
  - comfort noise (RFC 3389): nothing to play, but its sequence number is
    accounted for so that it does not read as a lost frame.

Timer: the jitter buffer gives up a hole after C{max_wait} and the DTMF
receiver closes an event whose end packets were all lost; both need time to
pass without a packet.  One C{IDelayedCall} per call serves both, armed only
while one of them has a deadline, so a call whose packets arrive in order
costs no timer work at all.  (The shared media clock was the alternative; it
would delay every give-up to the next 20 ms tick and tie inbound delivery to
outbound pacing.)

Nothing here raises into the reactor: owner callbacks that raise are logged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from roomkit_sip.interfaces import ICodec, IDecoder
from roomkit_sip.media.config import MediaConfig
from roomkit_sip.rtp.dtmf import DTMFDigit, DTMFReceiver
from roomkit_sip.rtp.jitter import NORMAL, Concealer, Frame, JitterBuffer
from roomkit_sip.rtp.packet import RTPPacket
from roomkit_sip.rtp.stats import BAD_SEQUENCE, IN_SEQUENCE, Counters, ReceptionStats

#: Module-level on purpose: see "Logging" in docs/architecture.md.
_log = Logger()

__all__ = ["InboundPath"]

#: Never re-arm the poll timer closer than this: a deadline a float rounding
#: short of due must not spin a loop of zero-delay calls.
_MIN_POLL_DELAY = 0.001


class InboundPath:
    """
    Turns one call's RTP packets into PCM frames and digits.

    @ivar counters: the call's receive counters, shared with the stats and
        the jitter buffer.
    @ivar reception: RFC 3550 reception statistics (also read by RTCP).
    @ivar comfort_noise: CN packets received.
    @ivar digits: key presses reported.
    """

    def __init__(
        self,
        clock: IReactorTime,
        codec: ICodec,
        payload_type: int,
        config: MediaConfig,
        *,
        dtmf_payload_type: int | None,
        dtmf_clock_rate: int | None,
        cn_payload_type: int | None,
        ptime: int,
        on_audio: Callable[[bytes], object] | None,
        on_dtmf: Callable[[str, float], object] | None,
    ) -> None:
        self._clock = clock
        self._on_audio = on_audio
        self._on_dtmf = on_dtmf
        self._ptime = ptime
        self.counters = Counters()
        self.reception = ReceptionStats(codec.clock_rate, self.counters)
        self.jitter = JitterBuffer(
            config.jitter_capacity,
            config.jitter_prefetch,
            config.skip_audio_gaps,
            config.plc,
            max_wait=config.jitter_max_wait,
            counters=self.counters,
        )
        self._fade_frames = 3 if config.plc else 0
        self.comfort_noise = 0
        self.digits = 0
        self._timer: IDelayedCall | None = None
        self._closed = False
        self.codec: ICodec | None = None
        self._decoder: IDecoder | None = None
        self._dtmf: DTMFReceiver | None = None
        self.set_codec(codec, payload_type, dtmf_payload_type, dtmf_clock_rate, cn_payload_type)

    def set_codec(
        self,
        codec: ICodec,
        payload_type: int,
        dtmf_payload_type: int | None,
        dtmf_clock_rate: int | None = None,
        cn_payload_type: int | None = None,
    ) -> None:
        """
        Receive C{codec} on C{payload_type} from now on (a re-INVITE changed
        it): what the jitter buffer holds is played with the old decoder, then
        the stream starts afresh, as for a new SSRC.
        """
        if self.codec is not None:
            self._restart()
        self.codec = codec
        self.payload_type = payload_type
        self.dtmf_payload_type = dtmf_payload_type
        self.cn_payload_type = cn_payload_type
        self.reception.clock_rate = codec.clock_rate
        self._decoder = None
        self._concealer = Concealer(codec.sample_rate * self._ptime // 1000, self._fade_frames)
        te_clock = dtmf_clock_rate or codec.clock_rate
        # Audio timestamps can only end an event when both share one clock
        # (RFC 4733 §2.1 asks that they do).
        self._dtmf = DTMFReceiver(te_clock) if dtmf_payload_type is not None else None
        self._dtmf_with_audio = self._dtmf is not None and te_clock == codec.clock_rate

    def accepts(self, payload_type: int) -> bool:
        """Whether C{payload_type} was negotiated (symmetric RTP latches only on those)."""
        return payload_type in (self.payload_type, self.dtmf_payload_type, self.cn_payload_type)

    def receive(self, packet: RTPPacket, now: float) -> None:
        """Handle one RTP packet from an accepted source."""
        pt = packet.payload_type
        if pt == self.payload_type:
            verdict = self.reception.update(packet, now)
            if verdict != IN_SEQUENCE:
                if verdict == BAD_SEQUENCE:
                    return
                self._restart()
            if self._dtmf_with_audio:
                digits = self._dtmf.audio(packet.timestamp, now)  # type: ignore[union-attr]
                if digits:
                    self._report(digits)
            frames = self.jitter.push(packet, now)
            if len(frames) == 1 and frames[0].kind == NORMAL:
                # In order with nothing buffered: nearly every packet.
                decoder = self._decoder
                if decoder is None:
                    decoder = self._decoder = self.codec.new_decoder()  # type: ignore[union-attr]
                pcm = decoder.decode(frames[0].payload)
                self._concealer.update(pcm)
                self._deliver(pcm)
            else:
                self._play(frames)
            if len(self.jitter):
                self._schedule()
            return
        if pt == self.dtmf_payload_type:
            if not self._non_media(packet, now, False):
                return
            digits = self._dtmf.receive(packet, now)  # type: ignore[union-attr]
            if digits:
                self._report(digits)
            self._schedule()
            return
        if pt == self.cn_payload_type:
            if self._non_media(packet, now, True):
                self.comfort_noise += 1
            return
        self.counters.dropped_unknown_pt += 1
        if packet.ssrc == self.reception.ssrc:
            # Its sequence number belongs to the stream: not a hole.
            self._play(self.jitter.push_non_media(packet.sequence, now))

    def close(self) -> None:
        """Cancel the timer and deliver nothing more."""
        self._closed = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    # -- internals --------------------------------------------------------

    def _non_media(self, packet: RTPPacket, now: float, timing: bool) -> bool:
        # Events and CN share the stream's sequence numbers; RFC 4733 events
        # carry their start time in every packet (§2.3.1), so no jitter sample.
        verdict = self.reception.update(packet, now, timing)
        if verdict != IN_SEQUENCE:
            if verdict == BAD_SEQUENCE:
                return False
            self._restart()
        frames = self.jitter.push_non_media(packet.sequence, now)
        if frames:
            self._play(frames)
        return True

    def _restart(self) -> None:
        """A new stream: play out the old one, then forget it (RFC 3550 A.1)."""
        self._play(self.jitter.flush())
        self.jitter.reset()
        self._decoder = None
        codec = self.codec
        assert codec is not None
        self._concealer = Concealer(codec.sample_rate * self._ptime // 1000, self._fade_frames)
        if self._dtmf is not None:
            self._report(self._dtmf.flush())

    def _play(self, frames: Sequence[Frame]) -> None:
        for frame in frames:
            if frame.kind == NORMAL:
                decoder = self._decoder
                if decoder is None:
                    decoder = self._decoder = self.codec.new_decoder()  # type: ignore[union-attr]
                pcm = decoder.decode(frame.payload)
                self._concealer.update(pcm)
            else:
                # LOST: concealment (plc) or silence (plc off, gaps not skipped).
                pcm = self._concealer.conceal()
            self._deliver(pcm)

    def _deliver(self, pcm: bytes) -> None:
        if self._closed or self._on_audio is None:
            return
        try:
            self._on_audio(pcm)
        except Exception:
            _log.failure("on_audio callback failed")

    def _report(self, digits: Sequence[DTMFDigit]) -> None:
        for digit in digits:
            self.digits += 1
            if self._closed or self._on_dtmf is None:
                continue
            try:
                self._on_dtmf(digit.digit, digit.duration_ms)
            except Exception:
                _log.failure("on_dtmf callback failed for {digit}", digit=digit.digit)

    def _deadline(self) -> float | None:
        deadline = self.jitter.deadline()
        if self._dtmf is not None:
            other = self._dtmf.deadline()
            if other is not None and (deadline is None or other < deadline):
                deadline = other
        return deadline

    def _schedule(self) -> None:
        if self._closed:
            return
        deadline = self._deadline()
        if deadline is None:
            return
        timer = self._timer
        if timer is not None and timer.active():
            if timer.getTime() <= deadline:
                return  # fires first; it re-arms for the rest
            timer.cancel()
        delay = max(_MIN_POLL_DELAY, deadline - self._clock.seconds())
        self._timer = self._clock.callLater(delay, self._poll)

    def _poll(self) -> None:
        self._timer = None
        if self._closed:
            return
        now = self._clock.seconds()
        self._play(self.jitter.poll(now))
        if self._dtmf is not None:
            self._report(self._dtmf.poll(now))
        self._schedule()
