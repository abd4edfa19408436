# -*- test-case-name: tests.engine.test_calls -*-
"""
L{DialogSender}: requests we send inside a dialog (BYE, UPDATE, re-INVITE,
INFO) and the ACK of a 2xx to our re-INVITE, through the transaction layer.

Where they go is the dialog's business (§12.2.1.1: the remote target through
the route set, loose or strict); how, ours: the hop's transport, except that
over TCP a connection to the peer that is already open is reused, namely the
one its INVITE arrived on when nothing is open to the hop itself (the peer
may be behind NAT and unreachable otherwise; RFC 5923 generalises this).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from roomkit_sip.engine.transports import SIPTransports
from roomkit_sip.sip.dialog import Dialog
from roomkit_sip.sip.message import Request, Response
from roomkit_sip.sip.reason import Reason
from roomkit_sip.sip.transactions import ClientTransaction, TransactionLayer

__all__ = ["DialogSender"]

#: Module-level, not per instance: an event's log_source would keep the
#: object (a call and its media) alive in any observer that retains events.
_log = Logger()

Addr = tuple[str, int]


class DialogSender:
    """
    @param transactions: the engine's transaction layer (set after
        construction: the layer and its sender need each other).
    """

    def __init__(self, transports: SIPTransports, user_agent: str) -> None:
        self._transports = transports
        self._user_agent = user_agent
        self.transactions: TransactionLayer | None = None

    def route(
        self, dialog: Dialog, connection: tuple[Addr, str] | None = None
    ) -> tuple[Addr, str]:
        """
        Where and how to send the dialog's next request.

        @param connection: C{(peer address, transport)} the dialog was set
            up over; a TCP connection there is reused when none is open to
            the hop, and a transport we do not run falls back to it.
        """
        hop = dialog.next_hop()
        destination, transport = (hop.host, hop.port), hop.transport.upper()
        if connection is not None:
            source, kind = connection
            kind = kind.upper()
            if transport.lower() not in self._transports.enabled:
                return source, kind
            if (
                transport == "TCP"
                and kind == "TCP"
                and not self._transports.has_connection(destination)
                and self._transports.has_connection(source)
            ):
                return source, kind
        return destination, transport

    def request(
        self,
        dialog: Dialog,
        method: str,
        *,
        headers: Iterable[tuple[str, object]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        connection: tuple[Addr, str] | None = None,
        on_additional_2xx: Any = None,
    ) -> tuple[ClientTransaction, Request]:
        """
        Build and send an in-dialog request.

        @return: the client transaction (its C{final} Deferred) and the request.
        @raise Exception: the transaction could not start (no route).
        """
        assert self.transactions is not None
        request = dialog.create_request(
            method,
            headers=[*headers, ("User-Agent", self._user_agent)],
            body=body,
            content_type=content_type,
        )
        destination, transport = self.route(dialog, connection)
        txn = self.transactions.request(
            request, destination, transport, on_additional_2xx=on_additional_2xx
        )
        return txn, request

    def ack(
        self,
        dialog: Dialog,
        invite: Request,
        response: Response,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        connection: tuple[Addr, str] | None = None,
    ) -> Request:
        """ACK a 2xx to our re-INVITE (§13.2.2.4); resent as is for retransmissions."""
        assert self.transactions is not None
        ack = dialog.ack_for(response)
        if ack is None:
            ack = dialog.create_ack(invite, body=body, content_type=content_type)
        destination, transport = self.route(dialog, connection)
        self.transactions.send_ack(ack, destination, transport)
        return ack

    def bye(
        self,
        dialog: Dialog,
        reason: Reason | None,
        connection: tuple[Addr, str] | None,
        session_id: str,
    ) -> Deferred[Any] | None:
        """
        Send BYE (with an RFC 3326 C{reason}); its answer is only logged: the
        session ended when the BYE was handed to its transaction (§15.1.1).

        @return: the transaction's C{final} (to wait for on shutdown), or
            C{None} when it could not even be sent.
        """
        headers = [("Reason", str(reason))] if reason is not None else []
        try:
            txn, _ = self.request(dialog, "BYE", headers=headers, connection=connection)
        except Exception as e:
            _log.warn("call {session_id}: BYE not sent: {e}", session_id=session_id, e=e)
            return None
        txn.final.addCallbacks(
            self._bye_answered, self._bye_failed, (session_id,), None, (session_id,)
        )
        return txn.final

    def _bye_answered(self, response: Response, session_id: str) -> None:
        if response.status >= 300:
            _log.info(
                "call {session_id}: BYE answered {status}",
                session_id=session_id,
                status=response.status,
            )

    def _bye_failed(self, failure: Failure, session_id: str) -> None:
        _log.info(
            "call {session_id}: BYE got no answer: {error}",
            session_id=session_id,
            error=failure.getErrorMessage(),
        )
