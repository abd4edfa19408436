# -*- test-case-name: tests.sip.test_offer_answer -*-
"""
RFC 3264 offer/answer for a voice call: one audio stream, one codec, plus
RFC 4733 telephone-event.

An answer follows the local preference order, not the offer's, and names one
codec (roomkit's backend does the same, and the media layer sends one).  The
pure functions L{answer_offer}, L{create_offer} and L{process_answer} build
and read descriptions; a dialog's memory across re-INVITEs lives in
L{roomkit_sip.sip.sdp_session.OfferAnswerSession}.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from roomkit_sip.sip.sdp import (
    Attribute,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
)

__all__ = [
    "LocalCodec", "LocalMedia", "Negotiation", "OfferAnswerError",
    "answer_offer", "create_offer", "process_answer",
]  # fmt: skip

# RFC 3261 §20.43 warn-codes, most specific first: when streams fail for
# different reasons the Warning names the one closest to working.
_WARNINGS = {
    305: "Incompatible media format",
    302: "Incompatible transport protocol",
    301: "Incompatible network address formats",
    304: "Media type not available",
}
_NOT_CODECS = ("telephone-event", "cn")


class LocalCodec(Protocol):
    """What negotiation reads from a codec (read-only, so frozen objects
    qualify, as do L{roomkit_sip.interfaces.ICodec} providers).  An optional
    C{fmtp} string is advertised as is."""

    @property
    def encoding_name(self) -> str: ...
    @property
    def payload_type(self) -> int: ...
    @property
    def clock_rate(self) -> int: ...
    @property
    def channels(self) -> int: ...


class OfferAnswerError(Exception):
    """
    No acceptable session.  A UAS answers the offer with C{status}
    (488 Not Acceptable Here) and a C{Warning: <warning>} header
    (RFC 3261 §21.4.26, §20.43); a UAC that got a bad answer tears down.
    """

    status = 488
    reason = "Not Acceptable Here"

    def __init__(self, message: str, warn_code: int = 304, warn_agent: str = "-") -> None:
        super().__init__(message)
        self.warn_code = warn_code
        self.warning = f'{warn_code} {warn_agent} "{_WARNINGS[warn_code]}"'


@dataclass(frozen=True)
class LocalMedia:
    """
    This side of every negotiation in a call.

    @ivar address: the advertised IP (C{o=} and C{c=}), IPv4 or IPv6.
    @ivar dtmf_events: RFC 4733 events we receive, as in C{a=fmtp}.
    @ivar ptime: what we offer, and answer when the offer's is unusable.
    @ivar ptimes: packetisation times the media layer can send.
    @ivar warn_agent: the C{warn-agent} of 488 Warnings (our host name).
    """

    address: str
    rtp_port: int
    session_name: str = "-"
    username: str = "-"
    dtmf_payload_type: int = 101
    dtmf_events: str = "0-16"
    ptime: int = 20
    ptimes: tuple[int, ...] = (20, 30, 40)
    warn_agent: str = "-"

    def __post_init__(self) -> None:
        if not 0 < self.rtp_port <= 65535 or not 96 <= self.dtmf_payload_type <= 127:
            raise ValueError("rtp_port must be 1-65535, dtmf_payload_type 96-127")
        if self.ptime not in self.ptimes or not _events(self.dtmf_events):
            raise ValueError("ptime must be one of ptimes and dtmf_events name events")


@dataclass(frozen=True)
class Negotiation:
    """
    The outcome of one offer/answer exchange: what the media layer does.

    @ivar codec: the local codec object chosen.
    @ivar payload_type: its payload type in the RTP we send.
    @ivar receive_payload_type: its payload type in the RTP we receive; the
        same number unless an answerer renumbered (RFC 3264 §6.1 SHOULD NOT).
    @ivar dtmf_payload_type: telephone-event payload type we send, or C{None}.
    @ivar dtmf_clock_rate: its RTP clock (the codec's, RFC 4733 §2.1).
    @ivar direction: what we may do: C{direction.sends}, C{direction.receives}.
    @ivar remote_rtp: C{(host, port)} to send RTP to; C{host} may be a name.
    @ivar remote_rtcp: C{(host, port)} for RTCP: C{a=rtcp} (RFC 3605), else
        the RTP port + 1, C{None} if that is past 65535.
    @ivar hold: the peer holds the call (it receives nothing: C{sendonly},
        C{inactive} or the RFC 2543 C{c=0.0.0.0}, RFC 3264 §8.4).
    @ivar media_index: position of the audio C{m=} line.
    """

    codec: LocalCodec
    payload_type: int
    receive_payload_type: int
    dtmf_payload_type: int | None
    receive_dtmf_payload_type: int | None
    dtmf_clock_rate: int | None
    ptime: int
    direction: Direction
    remote_rtp: tuple[str, int]
    remote_rtcp: tuple[str, int] | None
    hold: bool
    media_index: int


# -- reading offers and answers -------------------------------------------


def _events(text: str | None) -> frozenset[int]:
    """RFC 4733 §2.4.1 event list (C{"0-15,66"}); no C{fmtp} means 0-15."""
    if text is None:
        return frozenset(range(16))
    events: set[int] = set()
    for item in text.replace(" ", "").split(","):
        match = _EVENT_RANGE.fullmatch(item)
        if match:
            first = int(match.group(1))
            last = int(match.group(2) or first)
            events.update(range(first, last + 1) if last <= 255 else ())
    return frozenset(events)


_EVENT_RANGE = re.compile(r"([0-9]{1,3})(?:-([0-9]{1,3}))?")


def _format_events(events: frozenset[int]) -> str:
    ranges: list[list[int]] = []
    for event in sorted(events):
        if ranges and ranges[-1][1] == event - 1:
            ranges[-1][1] = event
        else:
            ranges.append([event, event])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _same(rtpmap: RtpMap, codec: LocalCodec) -> bool:
    return rtpmap.matches(codec.encoding_name, codec.clock_rate, codec.channels)


def _codecs(local_codecs: Sequence[LocalCodec]) -> list[LocalCodec]:
    return [c for c in local_codecs if c.encoding_name.lower() not in _NOT_CODECS]


def _telephone_event(media: MediaDescription, clock_rate: int) -> int | None:
    """The telephone-event payload type at the codec's clock (RFC 4733 §2.1)."""
    for pt, rtpmap in media.rtpmaps().items():
        if rtpmap.encoding_name.lower() == "telephone-event" and rtpmap.clock_rate == clock_rate:
            return pt
    return None


def _ptime(offered: int | None, maxptime: int | None, local: LocalMedia) -> int:
    """The offer's ptime if we can send it, else ours, within C{maxptime}."""
    allowed = [p for p in local.ptimes if maxptime is None or p <= maxptime]
    allowed = allowed or [min(local.ptimes)]
    if offered in allowed:
        return offered
    return local.ptime if local.ptime in allowed else max(allowed)


def _unusable(sdp: SessionDescription, media: MediaDescription) -> int | None:
    """Why C{media} cannot be our audio stream, as a warn-code, or C{None}."""
    if media.media.lower() != "audio" or media.port == 0:
        return 304
    if media.proto.upper() != "RTP/AVP":  # no SRTP (RTP/SAVP), no feedback profile
        return 302
    connection = sdp.connection_of(media)
    if connection is None or connection.nettype != "IN" or connection.addrtype not in _IP:
        return 301
    return None


_IP = ("IP4", "IP6")


def _endpoints(
    sdp: SessionDescription, media: MediaDescription
) -> tuple[Connection, tuple[str, int], tuple[str, int] | None]:
    connection = sdp.connection_of(media)
    assert connection is not None  # checked by _unusable
    rtp = (connection.host, media.port)
    rtcp = media.rtcp
    if rtcp is not None:  # RFC 3605
        return connection, rtp, ((rtcp.connection or connection).host, rtcp.port)
    # RFC 3550 §11 pairs RTCP with the next port (RFC 3605 §1); 65535 has none.
    return connection, rtp, (connection.host, media.port + 1) if media.port < 65535 else None


def _accept(
    offer: SessionDescription, codecs: Sequence[LocalCodec]
) -> tuple[int, MediaDescription, int, LocalCodec] | int:
    """The stream and codec to accept, local preference first, or the
    warn-code saying why there is none."""
    reasons = {304}
    for index, media in enumerate(offer.media):
        reason = _unusable(offer, media)
        if reason is None:
            rtpmaps = media.rtpmaps()
            for codec in codecs:
                for pt, rtpmap in rtpmaps.items():
                    if _same(rtpmap, codec):
                        return index, media, pt, codec
            reason = 305
        reasons.add(reason)
    return next(code for code in _WARNINGS if code in reasons)


def _answered(
    ours: MediaDescription, theirs: MediaDescription, codecs: Sequence[LocalCodec]
) -> tuple[int, int, LocalCodec] | None:
    """The answer's first codec that we offered: C{(its pt, our pt, codec)}."""
    offered = ours.rtpmaps()
    for pt, rtpmap in theirs.rtpmaps().items():
        receive_pt = next((p for p, r in offered.items() if r.matches(*rtpmap[1:])), None)
        codec = next((c for c in codecs if _same(rtpmap, c)), None)
        if receive_pt is not None and codec is not None:
            return pt, receive_pt, codec
    return None


# -- writing descriptions -------------------------------------------------


def _audio(
    proto: str,
    port: int,
    codecs: Sequence[tuple[int, LocalCodec]],
    dtmf: Sequence[tuple[int, int]],
    events: frozenset[int],
    ptime: int,
    direction: Direction,
) -> MediaDescription:
    """An audio section: an rtpmap for every format, static ones included."""
    formats, attributes = [], []
    for pt, codec in codecs:
        formats.append(str(pt))
        rtpmap = RtpMap(pt, codec.encoding_name, codec.clock_rate, codec.channels)
        attributes.append(Attribute("rtpmap", str(rtpmap)))
        if getattr(codec, "fmtp", None):
            attributes.append(Attribute("fmtp", f"{pt} {codec.fmtp}"))
    for pt, clock_rate in dtmf:
        formats.append(str(pt))
        attributes.append(Attribute("rtpmap", f"{pt} telephone-event/{clock_rate}"))
        attributes.append(Attribute("fmtp", f"{pt} {_format_events(events)}"))
    attributes += [Attribute("ptime", str(ptime)), Attribute(direction.value)]
    return MediaDescription("audio", port, proto, tuple(formats), attributes=tuple(attributes))


def _rejected(media: MediaDescription) -> MediaDescription:
    """Port zero, same media type, proto and formats (RFC 3264 §6)."""
    return MediaDescription(media.media, 0, media.proto, media.formats or ("0",))


def _description(
    local: LocalMedia, sess_id: int, sess_version: int, media: Sequence[MediaDescription]
) -> SessionDescription:
    connection = Connection.for_address(local.address)
    origin = Origin(
        local.username, sess_id, sess_version, "IN", connection.addrtype, local.address
    )
    return SessionDescription(
        origin, local.session_name, connection=connection, media=tuple(media)
    )


# -- the three exchanges --------------------------------------------------


def answer_offer(
    offer: SessionDescription,
    local_codecs: Sequence[LocalCodec],
    local: LocalMedia,
    *,
    sess_id: int,
    sess_version: int,
    direction: Direction = Direction.SENDRECV,
) -> tuple[SessionDescription, Negotiation]:
    """
    Answer C{offer}: the first audio stream with a codec in common is
    accepted, with the first of C{local_codecs} it offers; every other
    C{m=} line is rejected in place (RFC 3264 §6).

    @param direction: what we allow ourselves: C{SENDONLY} or C{INACTIVE}
        while we hold the call.
    @raise OfferAnswerError: no audio stream can be accepted (488).
    """
    accepted = _accept(offer, _codecs(local_codecs))
    if isinstance(accepted, int):
        message = f"no acceptable audio stream: {_WARNINGS[accepted]}"
        raise OfferAnswerError(message, accepted, local.warn_agent)
    index, media, pt, codec = accepted
    dtmf = _telephone_event(media, codec.clock_rate)
    events = _events(media.fmtp(dtmf)) & _events(local.dtmf_events) if dtmf is not None else None
    if not events:
        dtmf = None
    offered = offer.direction_of(media)
    connection, rtp, rtcp = _endpoints(offer, media)
    mine = offered.reverse().restrict(direction)
    if connection.is_unspecified:  # RFC 3264 §8.4: send neither RTP nor RTCP
        mine = mine.restrict(Direction.RECVONLY)
    ptime = _ptime(media.ptime, media.maxptime, local)
    audio = _audio(
        media.proto, local.rtp_port, [(pt, codec)],
        [(dtmf, codec.clock_rate)] if dtmf is not None else [],
        events or frozenset(), ptime, mine,
    )  # fmt: skip
    lines = [audio if i == index else _rejected(m) for i, m in enumerate(offer.media)]
    negotiation = Negotiation(
        codec, pt, pt, dtmf, dtmf, codec.clock_rate if dtmf is not None else None, ptime, mine,
        rtp, rtcp, not offered.receives or connection.is_unspecified, index,
    )  # fmt: skip
    return _description(local, sess_id, sess_version, lines), negotiation


def create_offer(
    local_codecs: Sequence[LocalCodec],
    local: LocalMedia,
    *,
    sess_id: int,
    sess_version: int,
    direction: Direction = Direction.SENDRECV,
) -> SessionDescription:
    """
    An offer of every local codec, in preference order, and telephone-event
    at each of their clock rates (C{local.dtmf_payload_type} for the first,
    free dynamic numbers for others): for outbound calls and for the 200 to
    an INVITE without SDP (RFC 3261 §13.2.1).

    @raise ValueError: no codec, or payload types collide.
    """
    codecs = [(c.payload_type, c) for c in _codecs(local_codecs)]
    used = [pt for pt, _ in codecs] + [local.dtmf_payload_type]
    if not codecs or len(set(used)) != len(used):
        raise ValueError(f"cannot offer codecs with payload types {used}")
    dtmf: list[tuple[int, int]] = []
    free = (pt for pt in range(96, 128) if pt not in used)
    for clock_rate in dict.fromkeys(c.clock_rate for _, c in codecs):
        dtmf.append((next(free) if dtmf else local.dtmf_payload_type, clock_rate))
    audio = _audio(
        "RTP/AVP", local.rtp_port, codecs, dtmf, _events(local.dtmf_events), local.ptime, direction
    )
    return _description(local, sess_id, sess_version, [audio])


def process_answer(
    offer: SessionDescription,
    answer: SessionDescription,
    local_codecs: Sequence[LocalCodec],
    local: LocalMedia,
) -> Negotiation:
    """
    Check C{answer} against our C{offer} (RFC 3264 §6, §7) and say how to
    send: the first codec of the answer that we offered, the answerer's
    payload types and ptime (RFC 3264 §5.1: numbers are what the describing
    side receives).

    @raise OfferAnswerError: the answer breaks §6 or accepts no audio.
    """

    def fail(message: str, code: int = 304) -> OfferAnswerError:
        return OfferAnswerError(message, code, local.warn_agent)

    if len(answer.media) != len(offer.media):
        raise fail(f"answer has {len(answer.media)} m= lines, offer {len(offer.media)}")
    for ours, theirs in zip(offer.media, answer.media):
        if ours.media.lower() != theirs.media.lower() or (ours.port == 0 and theirs.port != 0):
            raise fail(f"answer m={theirs.media} {theirs.port} does not match m={ours.media}")
    index = next((i for i, m in enumerate(offer.media) if _unusable(offer, m) is None), None)
    if index is None:
        raise ValueError("the offer has no audio stream")
    ours, theirs = offer.media[index], answer.media[index]
    reason = _unusable(answer, theirs)
    if reason is not None:
        raise fail("the answer rejects the audio stream", reason)
    choice = _answered(ours, theirs, _codecs(local_codecs))
    if choice is None:
        raise fail("the answer names no codec of our offer", 305)
    pt, receive_pt, codec = choice
    dtmf = _telephone_event(theirs, codec.clock_rate)
    receive_dtmf = _telephone_event(ours, codec.clock_rate)
    if dtmf is None or receive_dtmf is None:
        dtmf = receive_dtmf = None
    answered = answer.direction_of(theirs)
    connection, rtp, rtcp = _endpoints(answer, theirs)
    mine = offer.direction_of(ours).restrict(answered.reverse())
    if connection.is_unspecified:
        mine = mine.restrict(Direction.RECVONLY)
    return Negotiation(
        codec, pt, receive_pt, dtmf, receive_dtmf,
        codec.clock_rate if dtmf is not None else None,
        _ptime(theirs.ptime, theirs.maxptime, local), mine, rtp, rtcp,
        not answered.receives or connection.is_unspecified, index,
    )  # fmt: skip
