# -*- test-case-name: tests.engine.test_calls -*-
"""
What a call does with the requests the peer sends inside its dialog, once
the endpoint has checked them (method, Require, body encoding, CSeq order):

  - BYE (§15.1.2): 200, the RFC 3326 Reason (Q.850 preferred) copied into
    C{metadata["bye_reason"]}, then the call ends (C{remote_bye}).
  - re-INVITE and UPDATE: answered as L{roomkit_sip.engine.reinvite}
    decides; a new session is applied to the media, the session timer
    restarts, a re-INVITE's 2xx waits for its ACK (which may carry the
    answer to our offer).
  - INFO (RFC 6086 legacy use): a DTMF body becomes a C{DTMFEvent} with
    C{source="info"}, the same stream RFC 4733 digits go to; an empty INFO
    is a keep-alive (200); other bodies get 415.
  - OPTIONS: 200 with our capabilities (§11.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from roomkit_sip.engine.events import DTMFEvent
from roomkit_sip.engine.info_dtmf import DTMF_TYPES, InfoDTMFError, parse_info_dtmf
from roomkit_sip.engine.reinvite import Accepted, judge_session_request
from roomkit_sip.engine.screening import ACCEPT, ALLOW, SUPPORTED, Refusal
from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.message import Request
from roomkit_sip.sip.offer_answer import OfferAnswerError
from roomkit_sip.sip.reason import Reason, find_reason, parse_reasons
from roomkit_sip.sip.sdp import SDPParseError, parse_sdp

if TYPE_CHECKING:
    from roomkit_sip.engine.call import Call

__all__ = [
    "answer_from_ack",
    "bye_reason",
    "capability_headers",
    "early_request",
    "handle_request",
]

_log = Logger()


def capability_headers(services: Any) -> list[tuple[str, str]]:
    """Allow, Accept, Supported and Server: what every 2xx and OPTIONS answer says."""
    return [
        ("Allow", ", ".join(ALLOW)),
        ("Accept", ", ".join(ACCEPT)),
        ("Supported", ", ".join(SUPPORTED)),
        *services.server_headers(),
    ]


def refuse(services: Any, txn: Any, refusal: Refusal) -> None:
    """Answer C{txn} with C{refusal} (its To tag is the dialog's, already in To)."""
    txn.reply(
        refusal.status,
        refusal.reason,
        headers=[*refusal.headers, *services.server_headers()],
    )


def bye_reason(request: Request) -> dict[str, Any] | None:
    """C{{"cause": int, "text": str}} from a BYE's Reason: Q.850 first, else any with a cause."""
    reason: Reason | None = find_reason(request, "Q.850")
    if reason is None or reason.cause is None:
        try:
            reason = next((r for r in parse_reasons(request) if r.cause is not None), None)
        except SIPParseError:
            reason = None
    if reason is None or reason.cause is None:
        return None
    return {"cause": reason.cause, "text": reason.text or ""}


def handle_request(call: Call, txn: Any, request: Request) -> None:
    """Dispatch an in-dialog request of an answered (or early-media) call."""
    method = request.method
    services = call._services
    if method == "BYE":
        reason = bye_reason(request)
        if reason is not None:
            call.metadata["bye_reason"] = reason
        txn.reply(200, headers=services.server_headers())
        call._terminate("remote_bye", bye=False)
    elif method in ("INVITE", "UPDATE"):
        _session_request(call, txn, request)
    elif method == "INFO":
        _info(call, txn, request)
    elif method == "OPTIONS":
        txn.reply(200, headers=capability_headers(services))
    else:  # the endpoint screens methods: only ALLOW reaches here
        refuse(services, txn, Refusal(405, headers=(("Allow", ", ".join(ALLOW)),)))


def early_request(services: Any, call: Call | None, txn: Any, request: Request) -> None:
    """
    A request on an early dialog (BYE aside): an offer cannot be answered
    before the INVITE's is (500 with Retry-After, RFC 3311 §5.2); INFO goes
    to the early-media call if there is one.
    """
    method = request.method
    if method in ("INVITE", "UPDATE"):
        retry = str(int(services.random() * 10))
        refuse(services, txn, Refusal(500, "Offer Pending", (("Retry-After", retry),)))
    elif method == "OPTIONS":
        txn.reply(200, headers=capability_headers(services))
    elif call is not None:
        handle_request(call, txn, request)
    else:
        txn.reply(200, headers=services.server_headers())  # an INFO before any media


def _session_request(call: Call, txn: Any, request: Request) -> None:
    services = call._services
    config = services.config
    outgoing = call._outgoing
    result = judge_session_request(
        request,
        call._oa,
        early=call.state != "active",
        invite_in_progress=outgoing is not None and outgoing.method == "INVITE",
        offer_outstanding=call._oa.pending_offer is not None,
        min_se=config.min_se,
        session_expires=config.session_expires,
        retry_after=int(services.random() * 10),
    )
    if not isinstance(result, Accepted):
        refuse(services, txn, result)
        return
    headers: list[tuple[str, object]] = []
    contact = call.dialog.local_contact
    if contact is not None:
        headers.append(("Contact", contact))
    headers += capability_headers(services)
    headers += result.session_timer.headers
    if result.body:
        headers.append(("Content-Type", "application/sdp"))
    txn.reply(200, headers=headers, body=result.body)
    if result.negotiation is not None:
        call._renegotiated(result.negotiation)
    call._timers.start(result.session_timer.timer)
    if request.method == "INVITE":
        call._expect_ack(txn, request.cseq.seq, result.answer_in_ack)


def answer_from_ack(call: Call, ack: Request) -> None:
    """
    The ACK of a 2xx in which we offered (late offer, or a re-INVITE
    without SDP) carries the answer (RFC 3261 §13.2.1, §14.2).  For the
    initial INVITE a missing or unusable answer ends the call with BYE
    (C{media_not_established}); for a re-INVITE the previous session stays.
    """
    try:
        negotiation = call._oa.process_answer(parse_sdp(ack.body))
    except (SDPParseError, OfferAnswerError, RuntimeError) as error:
        call._oa.cancel_offer()
        _log.warn(
            "call {session_id}: no usable answer in the ACK: {error}",
            session_id=call.session_id,
            error=str(error) or type(error).__name__,
        )
        if call.state != "active":
            call._terminate("media_not_established")
        return
    if call.state == "active":
        call._renegotiated(negotiation)
        return
    try:
        call._start_media(negotiation)
    except Exception:
        _log.failure("call {session_id}: media could not start", session_id=call.session_id)
        call._terminate("media_not_established")
        return
    call._activate(call._answer_timer)


def _info(call: Call, txn: Any, request: Request) -> None:
    services = call._services
    if not request.body:
        txn.reply(200, headers=services.server_headers())  # a keep-alive
        return
    try:
        kind = request.content_type
    except SIPParseError:
        kind = None
    if kind not in DTMF_TYPES:
        refuse(services, txn, Refusal(415, headers=(("Accept", ", ".join(DTMF_TYPES)),)))
        return
    try:
        dtmf = parse_info_dtmf(kind, request.body)
    except InfoDTMFError as error:
        refuse(services, txn, Refusal(400, "Bad DTMF Body"))
        _log.info("call {session_id}: {error}", session_id=call.session_id, error=str(error))
        return
    txn.reply(200, headers=services.server_headers())
    services.notifier.dtmf(call, DTMFEvent(dtmf.digit, dtmf.duration_ms, "info"))
