# -*- test-case-name: tests.sip.test_offer_answer -*-
"""
One dialog's side of RFC 3264 offer/answer across re-INVITEs.

L{roomkit_sip.sip.offer_answer} holds the pure negotiation functions; this
module holds what a dialog must remember between exchanges: the C{o=} session
id and version (RFC 3264 §8), the last description sent, the offer awaiting
its answer, and local hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from roomkit_sip.sip.offer_answer import (
    LocalCodec,
    LocalMedia,
    Negotiation,
    OfferAnswerError,
    _audio,
    _events,
    answer_offer,
    create_offer,
    process_answer,
)
from roomkit_sip.sip.sdp import Direction, SessionDescription

__all__ = ["OfferAnswerSession"]


class OfferAnswerSession:
    """
    One dialog's side of offer/answer.

    Every description it hands out keeps the C{o=} session id; the version
    goes up by one exactly when the content differs from the last one sent,
    so a re-INVITE that changes nothing gets a byte-identical answer
    (RFC 3264 §8).  After a first negotiation, the codec in use is kept
    while a peer's re-offer still lists it, and our re-offers name only it,
    with the same C{m=} lines as before (rejected ones at port zero).
    """

    def __init__(
        self,
        local_codecs: Sequence[LocalCodec],
        local: LocalMedia,
        *,
        sess_id: int,
        sess_version: int | None = None,
    ) -> None:
        self._codecs = tuple(local_codecs)
        self._local = local
        self._sess_id = sess_id
        self._first_version = sess_id if sess_version is None else sess_version
        self._last: SessionDescription | None = None
        self._hold: Direction | None = None
        self._hold_before_offer: Direction | None = None
        #: The offer we sent that awaits an answer, or C{None}.
        self.pending_offer: SessionDescription | None = None
        #: The current negotiation, C{None} until the first one completes.
        self.negotiation: Negotiation | None = None

    @property
    def last_sent(self) -> SessionDescription | None:
        """The last description handed out (offer or answer)."""
        return self._last

    @property
    def local_hold(self) -> Direction | None:
        """C{SENDONLY}/C{INACTIVE} while we hold the call, else C{None}."""
        return self._hold

    def _stamp(self, sdp: SessionDescription) -> SessionDescription:
        if self._last is not None:
            version = self._last.origin.sess_version
            if sdp.with_version(version) == self._last:
                return self._last
            sdp = sdp.with_version(version + 1)
        self._last = sdp
        return sdp

    def _version(self) -> int:
        return self._first_version if self._last is None else self._last.origin.sess_version

    def answer(self, offer: SessionDescription) -> tuple[SessionDescription, Negotiation]:
        """
        Answer an initial or re-INVITE offer (or one in an UPDATE).  A 488
        leaves the session as it was (RFC 3261 §14.2).

        @raise OfferAnswerError: nothing acceptable.
        """
        codecs = self._codecs
        if self.negotiation is not None:
            current = self.negotiation.codec
            codecs = (current, *(c for c in codecs if c is not current))
        sdp, negotiation = answer_offer(
            offer, codecs, self._local, sess_id=self._sess_id, sess_version=self._version(),
            direction=self._hold or Direction.SENDRECV,
        )  # fmt: skip
        self.negotiation = negotiation
        return self._stamp(sdp), negotiation

    def offer(self) -> SessionDescription:
        """Our offer: every codec at first (outbound INVITE, or the 200 to an
        INVITE without SDP), then a re-offer of the codec in use."""
        return self._offer(self._hold)

    def hold(self, direction: Direction = Direction.SENDONLY) -> SessionDescription:
        """A re-offer putting the call on hold (RFC 3264 §8.4): C{SENDONLY}
        keeps our audio (music) flowing, C{INACTIVE} stops both ways."""
        if direction not in (Direction.SENDONLY, Direction.INACTIVE):
            raise ValueError(f"hold is sendonly or inactive, not {direction.value}")
        previous, self._hold = self._hold, direction
        return self._offer(previous)

    def resume(self) -> SessionDescription:
        """A re-offer taking the call off hold (C{sendrecv})."""
        previous, self._hold = self._hold, None
        return self._offer(previous)

    def _offer(self, hold_before: Direction | None) -> SessionDescription:
        direction = self._hold or Direction.SENDRECV
        current, last = self.negotiation, self._last
        if current is None or last is None:
            sdp = create_offer(
                self._codecs, self._local, sess_id=self._sess_id,
                sess_version=self._version(), direction=direction,
            )  # fmt: skip
        else:
            dtmf = current.receive_dtmf_payload_type
            audio = _audio(
                last.media[current.media_index].proto, self._local.rtp_port,
                [(current.receive_payload_type, current.codec)],
                [(dtmf, current.codec.clock_rate)] if dtmf is not None else [],
                _events(self._local.dtmf_events), current.ptime, direction,
            )  # fmt: skip
            media = list(last.media)
            media[current.media_index] = audio
            sdp = replace(last, media=tuple(media))
        self._hold_before_offer = hold_before
        self.pending_offer = self._stamp(sdp)
        return self.pending_offer

    def process_answer(self, answer: SessionDescription) -> Negotiation:
        """
        Take the answer to L{pending_offer}: from a 200 (outbound call or
        re-INVITE) or from the ACK of an INVITE that had no SDP.

        @raise OfferAnswerError: the answer is unusable; the caller tears the
            call down (or keeps the previous negotiation for a re-INVITE).
        """
        offer = self.pending_offer
        if offer is None:
            raise RuntimeError("no offer is waiting for an answer")
        self.pending_offer = None
        try:
            self.negotiation = process_answer(offer, answer, self._codecs, self._local)
        except OfferAnswerError:
            self._hold = self._hold_before_offer
            raise
        return self.negotiation

    def cancel_offer(self) -> None:
        """Our offer was refused (e.g. 488 or 491 to a re-INVITE): the session
        stays as it was, local hold included (RFC 3261 §14.1)."""
        if self.pending_offer is not None:
            self.pending_offer = None
            self._hold = self._hold_before_offer
