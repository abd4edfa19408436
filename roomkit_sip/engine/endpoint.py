# -*- test-case-name: tests.engine.test_endpoint -*-
"""
L{Endpoint}: the transaction user of the engine.  Every request, ACK, CANCEL
and transaction timeout the transaction layer reports comes here and is
routed:

  - screening first (L{roomkit_sip.engine.screening}, RFC 3261 §8.2):
    405/501 for methods, 416 for URI schemes, 420 for Require;
  - a request without To tag is a new one: INVITE (after its body checks:
    415, 406) becomes an L{IncomingCall}; OPTIONS gets our capabilities
    (§11.2; 503 while draining, so a load balancer stops sending calls);
    BYE, INFO and UPDATE outside any dialog get 481 (§12.2.2, §15.1.2);
  - a request with a To tag belongs to a dialog or gets 481 (§12.2.2); its
    CSeq must increase (500 otherwise), then the pending INVITE (early
    dialog) or the call handles it;
  - CANCEL matched to a pending INVITE, ACKs of our 2xx and Timer L's
    "no ACK" go to their INVITE or call.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger
from zope.interface import implementer

from roomkit_sip.engine.call import Call
from roomkit_sip.engine.in_dialog import capability_headers, handle_request
from roomkit_sip.engine.incoming import IncomingCall
from roomkit_sip.engine.screening import (
    Refusal,
    check_accept,
    check_body,
    check_method,
    check_require,
    check_scheme,
)
from roomkit_sip.engine.services import EngineServices
from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.message import Request, Response
from roomkit_sip.sip.transaction import new_tag
from roomkit_sip.sip.transactions import ITransactionUser, TimeoutKind

__all__ = ["Endpoint"]

#: Module-level, not per instance: an event's log_source would keep the
#: object (a call and its media) alive in any observer that retains events.
_log = Logger()

Addr = tuple[str, int]

#: Requests that only make sense inside a dialog.
_DIALOG_ONLY = frozenset({"BYE", "INFO", "UPDATE"})


@implementer(ITransactionUser)
class Endpoint:
    """The engine's L{ITransactionUser}."""

    def __init__(self, services: EngineServices) -> None:
        self._services = services

    # -- requests ----------------------------------------------------------------

    def request_received(self, txn: Any, request: Request) -> None:
        try:
            self._dispatch(txn, request)
        except SIPParseError as error:
            # A header field the parser leaves to its accessors is malformed.
            _log.info(
                "{method} from {source}: {detail}",
                method=request.method,
                source=txn.source,
                detail=error.detail,
            )
            if txn.last_response is None or txn.last_response.status < 200:
                self._refuse(txn, request, Refusal(400, error.reason))

    def _dispatch(self, txn: Any, request: Request) -> None:
        if request.method == "INVITE" and request.to.tag is None:
            txn.reply(100)  # at once: the caller stops retransmitting (§8.2.6.1)
        for check in (check_method, check_scheme, check_require):
            refusal = check(request)
            if refusal is not None:
                self._refuse(txn, request, refusal)
                return
        if request.to.tag is not None:
            self._in_dialog(txn, request)
            return
        method = request.method
        if method == "INVITE":
            refusal = check_body(request) or check_accept(request)
            if refusal is not None:
                self._refuse(txn, request, refusal)
                return
            IncomingCall(self._services, txn, request).start()
        elif method == "OPTIONS":
            self._options(txn, request)
        elif method in _DIALOG_ONLY:
            self._refuse(txn, request, Refusal(481))
        else:
            self._refuse(txn, request, check_method(request) or Refusal(405))

    def _options(self, txn: Any, request: Request) -> None:
        services = self._services
        if services.draining:
            retry = (("Retry-After", str(services.config.retry_after)),)
            self._refuse(txn, request, Refusal(503, headers=retry))
            return
        contact = services.transports.contact(txn.source[0], txn.transport)
        headers = [
            ("Contact", str(contact)),
            *capability_headers(services),
            ("Accept-Encoding", "identity"),
            ("Accept-Language", "en"),
        ]
        txn.reply(200, to_tag=new_tag(), headers=headers)

    def _in_dialog(self, txn: Any, request: Request) -> None:
        services = self._services
        dialog = services.dialogs.for_request(request)
        owner = None if dialog is None else services.registry.dialog_owner(dialog.id)
        if dialog is None or owner is None:
            self._refuse(txn, request, Refusal(481))
            return
        if dialog.receive_request(request) is not None:
            self._refuse(txn, request, Refusal(500, "CSeq Out Of Order"))  # §12.2.2
            return
        if request.method in ("INVITE", "UPDATE"):
            refusal = check_body(request) or check_accept(request)
            if refusal is not None:
                self._refuse(txn, request, refusal)
                return
        if isinstance(owner, IncomingCall):
            if request.method == "BYE":  # §15.1.2: 200 to the BYE, 487 to the INVITE
                txn.reply(200, headers=services.server_headers())
                owner._cancelled()
            else:
                owner._early_request(txn, request)
        elif isinstance(owner, Call):
            handle_request(owner, txn, request)

    def _refuse(self, txn: Any, request: Request, refusal: Refusal) -> None:
        tag = new_tag() if request.to.tag is None else None
        headers = [*refusal.headers, *self._services.server_headers()]
        txn.reply(refusal.status, refusal.reason, to_tag=tag, headers=headers)

    # -- the rest of the TU interface ----------------------------------------------

    def cancelled(self, txn: Any, cancel: Request) -> None:
        incoming = self._services.registry.pending_for(txn)
        if incoming is not None:
            incoming._cancelled()

    def ack_received(self, ack: Request, source: Addr) -> None:
        services = self._services
        try:
            dialog = services.dialogs.for_request(ack)
        except SIPParseError:
            return
        owner = None if dialog is None else services.registry.dialog_owner(dialog.id)
        if isinstance(owner, Call):
            owner._ack(ack)

    def stray_response(self, response: Response, source: Addr) -> None:
        """A 2xx to our re-INVITE retransmitted after Timer M: ACK it again (§13.2.2.4)."""
        services = self._services
        try:
            if not (200 <= response.status < 300 and response.cseq.method == "INVITE"):
                return
            dialog = services.dialogs.for_response(response)
        except SIPParseError:
            return
        owner = None if dialog is None else services.registry.dialog_owner(dialog.id)
        ack = None if dialog is None else dialog.ack_for(response)
        if isinstance(owner, Call) and ack is not None:
            destination, transport = services.sender.route(dialog, owner.connection)
            assert services.sender.transactions is not None
            services.sender.transactions.send_ack(ack, destination, transport)

    def timeout(self, txn: Any, kind: TimeoutKind) -> None:
        if kind is not TimeoutKind.NO_2XX_ACK:
            return
        owner = self._services.registry.ack_owner(txn)
        if isinstance(owner, Call):
            owner._ack_timeout(txn)

    def transport_error(self, txn: Any, error: Exception) -> None:
        registry = self._services.registry
        incoming = registry.pending_for(txn)
        if incoming is not None:
            incoming._aborted()
            return
        owner = registry.ack_owner(txn)
        if isinstance(owner, Call):
            registry.forget_ack(txn)
            owner._terminate("transport_error")
