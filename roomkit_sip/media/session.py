# -*- test-case-name: tests.media.test_session -*-
"""
L{MediaSession}: the RTP media of one call, from a bound port pair to PCM
frames and digits for the call engine, and back.

The engine creates it after SDP negotiation and talks to nothing else about
media.  It wires together:

  - L{InboundPath}: parse-checked packets to decoded PCM (jitter buffer,
    concealment) and RFC 4733 digits;
  - L{OutboundPath}: PCM through the shared L{MediaClock} pacer, encoded and
    sent; L{DTMFSender}: telephone events on the same sequence numbers;
  - L{RTCPScheduler}: SR/RR every few seconds on the RTCP port, BYE on close;
  - L{MediaWatchdog}: media lost or never established, reported once;

and L{MediaRouting}, which decides where packets may come from and go to.
Everything it starts, L{MediaSession.close} stops: timers, the media clock
registration, both sockets.
"""

from __future__ import annotations

import base64
import random
import secrets
from collections.abc import Callable

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from roomkit_sip.codecs.comfort_noise import PAYLOAD_TYPE as CN_PAYLOAD_TYPE
from roomkit_sip.interfaces import ICodec
from roomkit_sip.media.config import MediaConfig
from roomkit_sip.media.dtmf_sender import DTMFSender
from roomkit_sip.media.inbound import InboundPath
from roomkit_sip.media.outbound import OutboundPath, PlayedCallback
from roomkit_sip.media.routing import MediaRouting
from roomkit_sip.media.rtcp_scheduler import RTCPScheduler
from roomkit_sip.media.watchdog import MediaWatchdog
from roomkit_sip.rtp.dtmf import digit_code
from roomkit_sip.rtp.errors import RTCP_ON_RTP_PORT, RTPParseError
from roomkit_sip.rtp.pacing import MediaClock
from roomkit_sip.rtp.packet import parse_rtp
from roomkit_sip.rtp.rtcp import RTCPSession
from roomkit_sip.transport.ports import PortPair
from roomkit_sip.transport.rtp import Addr

#: Module-level on purpose: see "Logging" in docs/architecture.md.
_log = Logger()

__all__ = ["MediaSession"]


def _default_cname() -> str:
    # RFC 7022 §4.2: a random, per-session CNAME of at least 96 bits.
    return base64.b64encode(secrets.token_bytes(12)).decode("ascii")


class MediaSession:
    """
    One call's RTP and RTCP.  It runs from construction until L{close}.
    """

    def __init__(
        self,
        reactor: IReactorTime,
        ports: PortPair,
        codec: ICodec,
        payload_type: int,
        *,
        media_clock: MediaClock,
        dtmf_payload_type: int | None = None,
        dtmf_clock_rate: int | None = None,
        ptime: int = 20,
        remote_rtp: Addr | None = None,
        remote_rtcp: Addr | None = None,
        send: bool = True,
        recv: bool = True,
        config: MediaConfig | None = None,
        cn_payload_type: int | None = CN_PAYLOAD_TYPE,
        on_audio: Callable[[bytes], object] | None = None,
        on_dtmf: Callable[[str, float], object] | None = None,
        on_media_timeout: Callable[[str], object] | None = None,
        on_played: PlayedCallback | None = None,
        ssrc: int | None = None,
        cname: str | None = None,
        rtcp_random: Callable[[], float] | None = None,
    ) -> None:
        """
        @param ports: the bound pair from L{RTPPortAllocator.allocate}; the
            session takes it over and releases it on L{close}.
        @param codec: the negotiated codec; C{payload_type} is its number on
            the wire (the peer's for a dynamic type).
        @param media_clock: the reactor-wide 20 ms clock that paces sending.
        @param dtmf_payload_type: telephone-event's payload type, or C{None}
            if the peer took none; C{dtmf_clock_rate} defaults to the codec's.
        @param ptime: the negotiated packet time, the size of concealment
            frames until real frames show theirs.  We send frames of the
            media clock's duration (ptime is a receiver's wish, RFC 4566 §6).
        @param remote_rtp: the peer's RTP address, C{None} while unknown (late
            offer); C{remote_rtcp} defaults to its port + 1.
        @param send: whether we send media (C{sendrecv}/C{sendonly}).
        @param recv: whether we expect media (C{sendrecv}/C{recvonly}).
        @param cn_payload_type: the comfort noise payload type, or C{None}
            if the peer does not take CN; used only with C{config.comfort_noise}.
        @param on_audio: C{on_audio(pcm)}, each decoded (or concealed) frame,
            16-bit little-endian mono at C{codec.sample_rate}.
        @param on_dtmf: C{on_dtmf(digit, duration_ms)}, once per key press.
        @param on_media_timeout: C{on_media_timeout(reason)}, at most once,
            C{"media_lost"} or C{"media_not_established"}.
        @param on_played: C{on_played(pcm, rtp_timestamp, played_bytes,
            queued_ms, ended)} for every audio frame sent, and once with
            C{ended} when a response drains or is interrupted.
        @param ssrc: ours (random by default, RFC 3550 §8.1).
        @param rtcp_random: uniform [0, 1) source for RTCP intervals (tests).
        """
        self._reactor = reactor
        self._ports = ports
        self._config = config = config if config is not None else MediaConfig()
        self._routing = MediaRouting(config.symmetric_rtp)
        self.ptime = ptime
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self._inbound = InboundPath(
            reactor,
            codec,
            payload_type,
            config,
            dtmf_payload_type=dtmf_payload_type,
            dtmf_clock_rate=dtmf_clock_rate,
            cn_payload_type=cn_payload_type,
            ptime=ptime,
            on_audio=on_audio,
            on_dtmf=on_dtmf,
        )
        self._outbound = OutboundPath(
            reactor,
            media_clock,
            codec,
            payload_type,
            config,
            ssrc=self.ssrc,
            sendto=ports.rtp.sendto,
            cn_payload_type=cn_payload_type,
            on_played=on_played,
        )
        self._dtmf_pt = dtmf_payload_type
        self._dtmf_out: DTMFSender | None = None
        if dtmf_payload_type is not None:
            self._dtmf_out = DTMFSender(
                reactor, self._outbound, dtmf_payload_type, dtmf_clock_rate or codec.clock_rate
            )
        rtcp = RTCPSession(
            self.ssrc,
            cname or _default_cname(),
            self._inbound.reception,
            self._outbound.sender,
            random=rtcp_random or random.random,
        )
        self._rtcp = RTCPScheduler(reactor, rtcp, self._send_rtcp)
        self._watchdog = MediaWatchdog(
            reactor,
            config.rtp_inactivity_timeout,
            config.rtp_establishment_timeout,
            on_media_timeout,
        )
        self.packets_in = 0
        self.bytes_in = 0
        self.dropped_direction = 0
        self.rtcp_mux = 0
        self._send = send
        self._recv = recv
        self._peer_muxes = False
        self._closed: Deferred[None] | None = None
        self._routing.set_remote(remote_rtp, remote_rtcp)
        self._retarget()
        ports.rtp.attach(self.rtp_received)
        ports.rtcp.attach(self.rtcp_received)
        self._rtcp.start()
        if recv:
            self._watchdog.resume()

    # -- what the engine reads --------------------------------------------

    @property
    def local_rtp_port(self) -> int:
        return self._ports.rtp_port

    @property
    def local_rtcp_port(self) -> int:
        return self._ports.rtcp_port

    @property
    def codec(self) -> ICodec:
        return self._outbound.codec

    @property
    def payload_type(self) -> int:
        return self._outbound.payload_type

    @property
    def sample_rate(self) -> int:
        """Rate of the PCM in both directions (the codec's)."""
        return self._outbound.codec.sample_rate

    @property
    def closed(self) -> bool:
        return self._closed is not None

    @property
    def sending(self) -> bool:
        """Whether RTP goes out now (a usable target, direction with send)."""
        return self._outbound.target is not None

    @property
    def remote_rtp(self) -> Addr | None:
        """Where RTP goes now, C{None} when nowhere."""
        return self._outbound.target

    @property
    def is_playing(self) -> bool:
        """Audio queued or being sent."""
        return not self.closed and self._outbound.is_playing

    # -- outbound audio ---------------------------------------------------

    def send_audio(self, pcm: bytes) -> None:
        """Queue PCM at L{sample_rate} for paced playback (20 ms frames)."""
        self._outbound.push(pcm)

    def end_of_response(self) -> None:
        """The queued audio is a whole response: pad its last frame, play it all."""
        self._outbound.end_of_response()

    def when_drained(self) -> Deferred[bool]:
        """Fires C{True} when what was queued has been sent, C{False} if interrupted or closed."""
        if self.closed:
            return succeed(False)
        return self._outbound.when_drained()

    def interrupt(self) -> bool:
        """Barge-in: drop queued audio, nothing more of it is sent.  Whether something was."""
        if self.closed:
            return False
        return self._outbound.interrupt()

    def send_audio_now(self, pcm: bytes) -> bool:
        """One frame straight to RTP, bypassing the pacer (bridging).  Whether it went out."""
        return self._outbound.send_now(pcm)

    def send_dtmf(self, digit: str, duration_ms: float = 160.0) -> Deferred[bool]:
        """
        Send a key press as RFC 4733 events.

        @return: fires C{True} once sent; C{False} if no telephone-event was
            negotiated (the engine may use SIP INFO) or the session closed.
        @raise ValueError: an unknown digit or a non-positive duration.
        """
        if self._dtmf_out is None or self._dtmf_pt is None or self.closed:
            digit_code(digit)
            _log.warn(
                "cannot send DTMF {digit}: no telephone-event negotiated or closed", digit=digit
            )
            return succeed(False)
        return self._dtmf_out.send(digit, duration_ms)

    # -- what a re-INVITE changes -----------------------------------------

    def update_remote(self, rtp: Addr | None, rtcp: Addr | None = None) -> str:
        """
        A new remote address from SDP; releases a symmetric-RTP latch.

        @return: L{roomkit_sip.media.address.OK}, C{"hold"}, or why the
            address was refused (then nothing is sent to it).
        """
        self._peer_muxes = False
        status = self._routing.set_remote(rtp, rtcp)
        self._retarget()
        return status

    def set_direction(self, send: bool, recv: bool) -> None:
        """
        Hold and unhold: without C{send} nothing goes out (RTCP still does);
        without C{recv} the inactivity watchdog is paused, and re-armed
        afresh when receiving is expected again.
        """
        self._send = send
        self._recv = recv
        if self.closed:
            return
        if recv:
            self._watchdog.resume()
        else:
            self._watchdog.pause()
        self._retarget()

    def set_codec(
        self,
        codec: ICodec,
        payload_type: int,
        *,
        dtmf_payload_type: int | None = None,
        dtmf_clock_rate: int | None = None,
    ) -> None:
        """
        Change codec mid-call: fresh encoder and decoder, the jitter buffer
        played out; queued audio of another frame shape is dropped.
        """
        inbound = self._inbound
        inbound.set_codec(
            codec, payload_type, dtmf_payload_type, dtmf_clock_rate, inbound.cn_payload_type
        )
        self._outbound.set_codec(codec, payload_type)
        self._dtmf_pt = dtmf_payload_type
        if dtmf_payload_type is not None:
            te_clock = dtmf_clock_rate or codec.clock_rate
            if self._dtmf_out is None:
                self._dtmf_out = DTMFSender(
                    self._reactor, self._outbound, dtmf_payload_type, te_clock
                )
            else:
                self._dtmf_out.set_payload_type(dtmf_payload_type, te_clock)

    # -- datagrams (from the transport protocols) -------------------------

    def rtp_received(self, data: bytes, addr: Addr, now: float) -> None:
        """A datagram on the RTP port.  Never raises on bad input: counts and drops."""
        self.packets_in += 1
        self.bytes_in += len(data)
        try:
            packet = parse_rtp(data)
        except RTPParseError as e:
            if e.reason == RTCP_ON_RTP_PORT:
                # RFC 5761 §4: RTCP multiplexed onto the RTP port.
                self.rtcp_mux += 1
                self._peer_muxes = True
                self.rtcp_received(data, addr, now)
            else:
                self._inbound.counters.dropped_invalid += 1
            return
        if not self._recv:
            self.dropped_direction += 1
            return
        routing = self._routing
        dest = routing.rtp_dest
        if not routing.accept(addr, packet.payload_type, self._inbound.accepts):
            return
        if routing.rtp_dest is not dest:
            self._retarget()  # symmetric RTP just latched
        self._watchdog.activity(now)
        self._inbound.receive(packet, now)

    def rtcp_received(self, data: bytes, addr: Addr, now: float) -> None:
        """A datagram on the RTCP port (or multiplexed RTCP)."""
        self._routing.rtcp_from(addr)
        self._rtcp.receive(data, now)

    # -- statistics -------------------------------------------------------

    def stats(self) -> dict[str, object]:
        """
        Everything counted for this call, as a plain dict: packets and bytes
        in and out, the receive counters (lost, late, duplicate, reordered,
        concealed, dropped_invalid, dropped_unknown_pt...), jitter_ms,
        rtt_ms (from RTCP, C{None} until known), r_factor and mos (G.107),
        and what the peer reports about our stream (C{remote_*}).
        """
        rtcp = self._rtcp.session
        result: dict[str, object] = dict(self._inbound.reception.snapshot(rtcp.remote.rtt))
        outbound = self._outbound
        result.update(
            codec=outbound.codec.encoding_name,
            payload_type=outbound.payload_type,
            packets_in=self.packets_in,
            bytes_in=self.bytes_in,
            packets_out=outbound.sender.packets,
            bytes_out=outbound.bytes_out,
            dropped_source=self._routing.dropped_source,
            foreign_source=self._routing.foreign_source,
            dropped_direction=self.dropped_direction,
            comfort_noise_in=self._inbound.comfort_noise,
            dtmf_in=self._inbound.digits,
            dtmf_out=self._dtmf_out.sent if self._dtmf_out is not None else 0,
            frames_suppressed=outbound.suppressed,
            send_errors=self._ports.rtp.send_errors + self._ports.rtcp.send_errors,
            rtcp_sent=self._rtcp.sent,
            rtcp_received=self._rtcp.received,
            rtcp_invalid=self._rtcp.invalid,
            rtcp_mux=self.rtcp_mux,
            remote_fraction_lost=rtcp.remote.fraction_lost,
            remote_lost=rtcp.remote.lost,
            remote_jitter_ms=rtcp.remote.jitter_ms,
            remote_bye=rtcp.remote.bye,
            media_timeout=self._watchdog.fired,
        )
        return result

    # -- the end ----------------------------------------------------------

    def close(self, reason: str | None = None) -> Deferred[None]:
        """
        End the media: RTCP BYE (with C{reason}), off the media clock, drain
        waiters fire C{False}, every timer cancelled, both ports closed and
        handed back to the allocator's quarantine.  Idempotent.

        @return: fires once both sockets are closed.
        """
        if self._closed is None:
            self._closed = Deferred()
            self._shutdown(reason).chainDeferred(self._closed)
        done: Deferred[None] = Deferred()
        self._closed.addBoth(lambda result: (done.callback(None), result)[1])
        return done

    def _shutdown(self, reason: str | None) -> Deferred[None]:
        self._watchdog.stop()
        if self._dtmf_out is not None:
            self._dtmf_out.close()
        self._outbound.close()
        self._inbound.close()
        self._rtcp.stop(reason)
        self._ports.rtp.detach()
        self._ports.rtcp.detach()
        return self._ports.release()

    # -- addresses --------------------------------------------------------

    def _retarget(self) -> None:
        routing = self._routing
        if self._closed is not None:
            self._outbound.target = None
            return
        self._outbound.target = routing.rtp_dest if self._send else None

    def _send_rtcp(self, data: bytes) -> bool:
        routing = self._routing
        if self._peer_muxes and routing.rtp_dest is not None:
            # RFC 5761 §4: a peer that multiplexes hears RTCP on its RTP port.
            return self._ports.rtp.sendto(data, routing.rtp_dest)
        target = routing.rtcp_dest
        if target is None:
            return False
        return self._ports.rtcp.sendto(data, target)
