# -*- test-case-name: tests.engine.test_reinvite -*-
"""
From an offer/answer L{Negotiation} to the L{MediaSession} that carries it,
and from one negotiation to the next (re-INVITE, UPDATE).

Hold (RFC 3264 §8.4): while the peer holds the call (it offered
C{sendonly} or C{inactive}, or the RFC 2543 C{c=0.0.0.0}) we send nothing
(the answer mirrors the direction) and stop expecting its audio: music on
hold is not passed to the application, and the RTP inactivity watchdog is
paused instead of tripping on a silent hold.  Unhold re-arms it afresh.
"""

from __future__ import annotations

from collections.abc import Callable

from roomkit_sip.media import MediaConfig, MediaSession
from roomkit_sip.rtp.pacing import MediaClock
from roomkit_sip.sip.offer_answer import Negotiation
from roomkit_sip.transport.ports import PortPair

__all__ = ["apply_negotiation", "directions", "open_media"]


def directions(negotiation: Negotiation) -> tuple[bool, bool]:
    """C{(send, receive)} for the media session: see the module docstring."""
    direction = negotiation.direction
    return direction.sends, direction.receives and not negotiation.hold


def open_media(
    reactor: object,
    ports: PortPair,
    negotiation: Negotiation,
    *,
    media_clock: MediaClock,
    config: MediaConfig,
    on_audio: Callable[[bytes], object],
    on_dtmf: Callable[[str, float], object],
    on_media_timeout: Callable[[str], object],
    on_played: Callable[..., object],
) -> MediaSession:
    """Start the media of a negotiated call on its bound C{ports}."""
    send, receive = directions(negotiation)
    return MediaSession(
        reactor,  # type: ignore[arg-type]
        ports,
        negotiation.codec,  # type: ignore[arg-type]
        negotiation.payload_type,
        media_clock=media_clock,
        dtmf_payload_type=negotiation.dtmf_payload_type,
        dtmf_clock_rate=negotiation.dtmf_clock_rate,
        ptime=negotiation.ptime,
        remote_rtp=negotiation.remote_rtp,
        remote_rtcp=negotiation.remote_rtcp,
        send=send,
        recv=receive,
        config=config,
        on_audio=on_audio,
        on_dtmf=on_dtmf,
        on_media_timeout=on_media_timeout,
        on_played=on_played,
    )


def apply_negotiation(media: MediaSession, old: Negotiation, new: Negotiation) -> list[str]:
    """
    Change the running media from C{old} to C{new}.

    @return: what changed, among C{"remote"}, C{"codec"}, C{"hold"},
        C{"resume"} and C{"direction"} (for logs and tests).
    """
    changes = []
    if (new.remote_rtp, new.remote_rtcp) != (old.remote_rtp, old.remote_rtcp):
        media.update_remote(new.remote_rtp, new.remote_rtcp)
        changes.append("remote")
    if (new.codec, new.payload_type, new.dtmf_payload_type) != (
        old.codec,
        old.payload_type,
        old.dtmf_payload_type,
    ):
        media.set_codec(
            new.codec,  # type: ignore[arg-type]
            new.payload_type,
            dtmf_payload_type=new.dtmf_payload_type,
            dtmf_clock_rate=new.dtmf_clock_rate,
        )
        changes.append("codec")
    if directions(new) != directions(old):
        media.set_direction(*directions(new))
        if new.hold != old.hold:
            changes.append("hold" if new.hold else "resume")
        else:
            changes.append("direction")
    return changes
