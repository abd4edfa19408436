# -*- test-case-name: tests.engine.test_incoming -*-
"""
Whether a new INVITE may become a call, before the application is asked:
the steps of C{docs/engine.md} "Behaviour" between the 100 and the
C{incoming_call} hook, each with the answer it gives when it says no.

  1. Capacity: draining, or C{max_sessions} calls live or being set up:
     503 with Retry-After (RFC 3261 §21.5.4).
  2. Digest authentication (RFC 7616 through the configured
     L{DigestAuthenticator}): a challenge (401/407), 403, 400 or 500.
  3. Identity: the session id is claimed; a live one gives 486 (roomkit).
  4. Session timer (RFC 4028 §9): too small an interval, 422 with Min-SE.
  5. SDP: a malformed offer, 400; nothing acceptable, 488 with a Warning
     (RFC 3261 §21.4.26) — checked before a port is bound.
  6. An RTP port pair: none free, 503 with Retry-After.
  7. The answer (or, without an offer, nothing yet: the 200 will offer).

L{admit} returns a Deferred (authentication may wait on a provider); it can
be cancelled while it waits (a CANCEL arrived), and it never holds a claim
or a port when it fails.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, fail, succeed

from roomkit_sip.auth.authenticator import (
    AuthAccepted,
    AuthBadRequest,
    AuthChallenge,
    AuthForbidden,
)
from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.offer_answer import LocalMedia, Negotiation, OfferAnswerError, answer_offer
from roomkit_sip.sip.sdp import SDPParseError, SessionDescription, parse_sdp
from roomkit_sip.sip.sdp_session import OfferAnswerSession
from roomkit_sip.sip.session_timer import Negotiated, TooSmall, uas_negotiate
from roomkit_sip.transport.addressing import is_unspecified
from roomkit_sip.transport.ports import PortPair, PortsExhausted

if TYPE_CHECKING:
    from roomkit_sip.engine.incoming import IncomingCall
    from roomkit_sip.engine.services import EngineServices

__all__ = ["Admission", "Refused", "admit"]

#: Stands for the RTP port when an offer is checked before binding one.
_PROBE_PORT = 9


class Refused(Exception):
    """The INVITE is answered C{status} (with C{headers}) instead of ringing."""

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        *,
        auth_failure: bool = False,
    ) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason
        self.headers = headers
        self.auth_failure = auth_failure


@dataclass(eq=False)
class Admission:
    """
    What an admitted INVITE holds: the caller owns the claim and the ports.

    @ivar answer: our SDP answer, C{None} for a late offer.
    """

    offer_answer: OfferAnswerSession
    answer: SessionDescription | None
    negotiation: Negotiation | None
    session_timer: Negotiated
    ports: PortPair


def _retry_after(services: EngineServices) -> tuple[tuple[str, str], ...]:
    return (("Retry-After", str(services.config.retry_after)),)


def _full(services: EngineServices, extra: int = 0) -> bool:
    limit = services.config.max_sessions
    return services.draining or (limit > 0 and services.registry.claimed + extra > limit)


def admit(services: EngineServices, incoming: IncomingCall) -> Deferred[Admission]:
    """Run the steps of the module docstring for C{incoming}."""
    if _full(services, 1):
        return fail(Refused(503, headers=_retry_after(services)))
    auth = services.config.auth
    if auth is None:
        return succeed(None).addCallback(lambda _: _decide(services, incoming))
    request = incoming.request
    d: Deferred[Any] = auth.authenticate(
        request.method,
        request.uri,
        request.headers.get_all(auth.credentials_header),
        incoming.source_addr[0],
        request.body,
    )
    return d.addCallback(_judged, services, incoming)


def _judged(outcome: Any, services: EngineServices, incoming: IncomingCall) -> Admission:
    if isinstance(outcome, AuthAccepted):
        incoming.authenticated_user = outcome.username
        return _decide(services, incoming)
    if isinstance(outcome, AuthChallenge):
        raise Refused(outcome.status, headers=tuple(outcome.headers))
    if isinstance(outcome, AuthForbidden):
        raise Refused(403, auth_failure=True)
    if isinstance(outcome, AuthBadRequest):
        detail = "".join(c for c in outcome.detail if c.isprintable() and c not in '"\\')
        raise Refused(400, "Bad Credentials", (("Warning", f'399 - "{detail[:120]}"'),))
    raise Refused(500)


def _decide(services: EngineServices, incoming: IncomingCall) -> Admission:
    registry = services.registry
    session_id = incoming.session_id
    if not registry.claim(session_id, incoming):
        raise Refused(486)
    try:
        return _prepare(services, incoming)
    except BaseException:
        registry.release(session_id, incoming)
        raise


def _prepare(services: EngineServices, incoming: IncomingCall) -> Admission:
    config = services.config
    if _full(services):
        raise Refused(503, headers=_retry_after(services))
    request = incoming.request
    try:
        timer = uas_negotiate(
            request, min_se=config.min_se, session_expires=config.session_expires
        )
    except SIPParseError:
        raise Refused(400, "Bad Session-Expires") from None
    if isinstance(timer, TooSmall):
        raise Refused(422, headers=tuple(timer.headers))
    offer = None
    if request.body:
        try:
            offer = parse_sdp(request.body)
        except SDPParseError:
            raise Refused(400, "Bad Session Description") from None
    local = _local_media(services, incoming, offer, _PROBE_PORT)
    if offer is not None:
        try:
            answer_offer(offer, config.codecs, local, sess_id=1, sess_version=1)
        except OfferAnswerError as error:
            raise Refused(488, error.reason, (("Warning", error.warning),)) from None
    try:
        ports = services.allocator.allocate()
    except PortsExhausted:
        raise Refused(503, "No Media Ports", _retry_after(services)) from None
    sess_id = secrets.randbits(31) + 1
    local = _local_media(services, incoming, offer, ports.rtp_port)
    session = OfferAnswerSession(config.codecs, local, sess_id=sess_id)
    if offer is None:
        return Admission(session, None, None, timer, ports)
    try:
        answer, negotiation = session.answer(offer)
    except OfferAnswerError as error:  # the probe said yes: only a bug gets here
        ports.release()
        raise Refused(488, error.reason, (("Warning", error.warning),)) from None
    return Admission(session, answer, negotiation, timer, ports)


def _routable(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return not is_unspecified(host)


def _local_media(
    services: EngineServices,
    incoming: IncomingCall,
    offer: SessionDescription | None,
    rtp_port: int,
) -> LocalMedia:
    config = services.config
    peer = incoming.source_addr[0]
    if offer is not None:
        connection = offer.connection or next(
            (c for m in offer.media for c in m.connections), None
        )
        if connection is not None and _routable(connection.host):
            peer = connection.host  # where our RTP goes decides the source address
    address = services.rtp_addresses.for_peer(peer)
    return LocalMedia(
        address=address,
        rtp_port=rtp_port,
        session_name=config.server_name,
        dtmf_payload_type=config.dtmf_payload_type,
        warn_agent=services.transports.local_host(incoming.source_addr[0]),
    )
