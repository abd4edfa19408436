# -*- test-case-name: tests.engine.test_reinvite -*-
"""
How to answer a re-INVITE or an UPDATE that modifies a session (RFC 3261
§14.2, RFC 3311, RFC 4028), decided without touching the call: the caller
(L{roomkit_sip.engine.in_dialog}) sends the answer and applies the outcome.

The rules, in order:

  1. The dialog is still early (our answer to the INVITE is not final): 500
     with Retry-After, since the INVITE's offer is not answered yet (RFC
     3261 §14.2 for a second INVITE, RFC 3311 §5.2 for an UPDATE).
  2. Glare: our own re-INVITE is in progress, or an offer of ours awaits
     its answer (a re-INVITE without SDP we answered with an offer, or our
     refresh carrying one): 491 (RFC 3261 §14.2, RFC 3311 §5.2).  The peer
     retries after a random wait.
  3. Session timer (RFC 4028): below our Min-SE, 422 with Min-SE; malformed,
     400.
  4. SDP: a malformed body, 400; no acceptable media, 488 with a Warning
     (the session stays as it was, §14.2).  A re-INVITE without SDP is
     answered with our offer, the answer expected in the ACK (§14.2);
     an UPDATE without SDP is a plain refresh.

The answer's C{o=} version goes up only when its content changed (RFC 3264
§8, done by L{OfferAnswerSession}): a refresh re-INVITE gets the very same
description again.
"""

from __future__ import annotations

from dataclasses import dataclass

from roomkit_sip.engine.screening import Refusal
from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.message import Request
from roomkit_sip.sip.offer_answer import Negotiation, OfferAnswerError
from roomkit_sip.sip.sdp import SDPParseError, parse_sdp
from roomkit_sip.sip.sdp_session import OfferAnswerSession
from roomkit_sip.sip.session_timer import Negotiated, TooSmall, uas_negotiate

__all__ = ["Accepted", "judge_session_request"]


@dataclass(frozen=True)
class Accepted:
    """
    Answer 200.

    @ivar body: the SDP of the 200 (an answer, or our offer); C{b""} for none.
    @ivar negotiation: the new negotiation to apply, when an offer was answered.
    @ivar answer_in_ack: we offered: the ACK carries the answer.
    @ivar session_timer: the RFC 4028 outcome (timer and 2xx headers).
    """

    body: bytes
    negotiation: Negotiation | None
    answer_in_ack: bool
    session_timer: Negotiated


def judge_session_request(
    request: Request,
    offer_answer: OfferAnswerSession,
    *,
    early: bool,
    invite_in_progress: bool,
    offer_outstanding: bool,
    min_se: int,
    session_expires: int,
    retry_after: int,
) -> Refusal | Accepted:
    """
    Decide the answer to a re-INVITE or UPDATE (see the module docstring).

    @param early: the INVITE that created the dialog has no final answer.
    @param invite_in_progress: a re-INVITE of ours awaits its final answer.
    @param offer_outstanding: an offer of ours awaits its answer.
    @param retry_after: seconds for the 500's Retry-After (random 0-10, §14.2).
    """
    is_invite = request.method == "INVITE"
    has_body = bool(request.body)
    if early:
        return Refusal(500, "Offer Pending", (("Retry-After", str(retry_after)),))
    if (is_invite and invite_in_progress) or ((is_invite or has_body) and offer_outstanding):
        return Refusal(491)
    try:
        timer = uas_negotiate(request, min_se=min_se, session_expires=session_expires)
    except SIPParseError:
        return Refusal(400, "Bad Session-Expires")
    if isinstance(timer, TooSmall):
        return Refusal(422, headers=tuple(timer.headers))
    if not has_body:
        if is_invite:
            return Accepted(bytes(offer_answer.offer()), None, True, timer)
        return Accepted(b"", None, False, timer)
    try:
        offer = parse_sdp(request.body)
    except SDPParseError:
        return Refusal(400, "Bad Session Description")
    try:
        sdp, negotiation = offer_answer.answer(offer)
    except OfferAnswerError as error:
        return Refusal(error.status, error.reason, (("Warning", error.warning),))
    return Accepted(bytes(sdp), negotiation, False, timer)
