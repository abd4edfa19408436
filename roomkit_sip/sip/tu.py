# -*- test-case-name: tests.sip.test_transactions -*-
"""
L{ITransactionUser}: what the L{roomkit_sip.sip.transactions.TransactionLayer}
reports to the transaction user (RFC 3261 §17: the call engine above it).
The layer re-exports it; the engine implements it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zope.interface import Interface

if TYPE_CHECKING:
    from roomkit_sip.sip.message import Request, Response
    from roomkit_sip.sip.server_transaction import ServerTransaction
    from roomkit_sip.sip.transaction import Address, TimeoutKind

__all__ = ["ITransactionUser"]


class ITransactionUser(Interface):
    """
    What the layer reports to the TU.  Calls come from inside
    L{roomkit_sip.sip.transactions.TransactionLayer.receive} or a timer; an
    exception raised by the TU is logged and does not disturb the layer.
    """

    def request_received(txn: ServerTransaction, request: Request) -> None:
        """
        A new request, neither ACK nor CANCEL.  Answer it with
        C{txn.respond()} or C{txn.reply()}; for an INVITE, a 100 (Trying) is
        sent for you after 200 ms without an answer (§17.2.1).  In-dialog
        requests arrive here too: the TU checks them against its dialogs
        (481, CSeq order) with L{roomkit_sip.sip.dialog}.
        """

    def cancelled(txn: ServerTransaction, cancel: Request) -> None:
        """
        A CANCEL matched the INVITE of C{txn}, which has no final response
        yet; its 200 was sent.  The TU should answer the INVITE with 487
        (§9.2).  A CANCEL arriving after the final response is answered 200
        and not reported.
        """

    def ack_received(ack: Request, source: Address) -> None:
        """
        An ACK that is not part of a transaction: the ACK for a 2xx
        (§13.3.1.4, §17.1.1.3), possibly with the answer of a late offer.
        Every copy is reported (the UAC resends it for each 2xx
        retransmission), as is an ACK that matches nothing at all.
        """

    def stray_response(response: Response, source: Address) -> None:
        """
        A response matching no client transaction (§18.1.2): typically a
        2xx retransmitted after Timer M, which a UAC dialog acknowledges
        again (§13.2.2.4).  Anything else may be dropped.
        """

    def timeout(txn: ServerTransaction, kind: TimeoutKind) -> None:
        """
        A server transaction gave up: L{TimeoutKind.NO_2XX_ACK} (the 2xx was
        never acknowledged: send BYE, §13.3.1.4) or L{TimeoutKind.NO_ACK}
        (Timer H, informational).  Client transactions report through their
        C{final} Deferred instead.
        """

    def transport_error(txn: ServerTransaction, error: Exception) -> None:
        """A response of C{txn} could not be sent; the transaction ended."""
