# -*- test-case-name: tests.sip.test_transactions -*-
"""
L{TransactionLayer}: the facade between the transport and the transaction
user (the call engine).  Every parsed message goes in through
L{TransactionLayer.receive}; every byte goes out through the injected
C{send(message, destination, transport)}, retransmissions included.

What the layer does itself, so that the TU never sees it:

  - matching requests to server transactions (§17.2.3, with the RFC 2543
    fallback for branches without the magic cookie) and responses to client
    transactions (§17.1.3); absorbing retransmissions;
  - stamping the top Via of each request with C{received}/C{rport}
    (§18.2.1, RFC 3581) and choosing where responses go (§18.2.2);
  - answering CANCEL (200, or 481 when it matches nothing, §9.2) and
    telling the TU, which answers the INVITE with 487;
  - answering 482 to merged requests (§8.2.2.2) and 483 to requests with
    Max-Forwards 0.  OPTIONS is exempt from 483: §11 lets a UAS answer an
    OPTIONS it receives with Max-Forwards 0 (RFC 4475 §3.3.11 accepts 200
    or 483), and a capabilities answer is the more useful of the two;
  - dropping responses with more than one Via (§8.1.3.3);
  - the 2xx retransmission a UAS core owes until the ACK (§13.3.1.4).

Transactions are removed when they terminate and every timer is cancelled,
so memory is bounded by the traffic of the last 64*T1 seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from roomkit_sip.sip.client_transaction import (
    ClientTransaction,
    InviteClientTransaction,
    NonInviteClientTransaction,
    cancel_for,
)
from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.fields import Via
from roomkit_sip.sip.matching import ServerIndex
from roomkit_sip.sip.message import Request, Response
from roomkit_sip.sip.routing import complete_via, response_destination, stamp_via
from roomkit_sip.sip.server_transaction import (
    InviteServerTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
)
from roomkit_sip.sip.timers import TimerSettings
from roomkit_sip.sip.transaction import (
    Address,
    State,
    TimeoutKind,
    Transaction,
    TransactionClosed,
    TransactionError,
    TransactionTimeout,
    TransportFailure,
    new_branch,
    new_tag,
)
from roomkit_sip.sip.tu import ITransactionUser

#: What the call engine needs from the transaction layer, in one import.
__all__ = [
    "ClientTransaction",
    "ITransactionUser",
    "ServerTransaction",
    "State",
    "TimeoutKind",
    "TransactionClosed",
    "TransactionError",
    "TransactionLayer",
    "TransactionTimeout",
    "TransportFailure",
]

_log = Logger()

#: C{send(message, destination, transport)}: writes one message; raising
#: means the transport failed (§18: a fatal ICMP error, a connection refused).
Send = Callable[[Request | Response, Address, str], None]


class TransactionLayer:
    """
    The RFC 3261 transaction layer of one user agent.

    @param clock: every timer runs on it.
    @param send: writes one message (see L{Send}).
    @param tu: an L{ITransactionUser}.
    @param timers: T1, T2, T4 (tests shorten them).
    @param local_via: C{local_via(destination, transport) -> Via}: the sent-by
        to put in requests that have no Via yet (§18.1.1); the layer adds
        the branch.  Without it, requests must carry their Via.
    @param tag_factory: To tags for the responses the layer sends itself.
    @param branch_factory: branches for requests without an RFC 3261 one.
    """

    def __init__(
        self,
        clock: IReactorTime,
        send: Send,
        tu: Any,
        timers: TimerSettings | None = None,
        *,
        local_via: Callable[[Address, str], Via] | None = None,
        tag_factory: Callable[[], str] = new_tag,
        branch_factory: Callable[[], str] = new_branch,
    ) -> None:
        self._clock = clock
        self._send = send
        self._tu = tu
        self._timers = timers if timers is not None else TimerSettings()
        self._local_via = local_via
        self._new_tag = tag_factory
        self._new_branch = branch_factory
        # §17.1.3: (branch, CSeq method).
        self._clients: dict[tuple[str | None, str], ClientTransaction] = {}
        self._servers = ServerIndex()
        self._cleanups: dict[Transaction, list[Callable[[], None]]] = {}

    def __len__(self) -> int:
        """The number of live transactions."""
        return len(self._cleanups)

    # -- input ---------------------------------------------------------------

    def receive(self, message: Request | Response, source: Address, transport: str) -> None:
        """
        Feed one message the transport parsed.

        @param source: C{(ip, port)} it came from.
        @param transport: the transport it arrived on (C{"UDP"}, C{"TCP"}...).
        """
        try:
            if isinstance(message, Response):
                self._receive_response(message, source)
            else:
                self._receive_request(message, source, transport)
        except SIPParseError as error:
            _log.warn(
                "dropped a message from {source} with a malformed {detail}",
                source=source,
                detail=error.detail,
            )

    def _receive_response(self, response: Response, source: Address) -> None:
        vias = response.vias
        if len(vias) != 1:
            _log.warn("dropped a response with {count} Via values (§8.1.3.3)", count=len(vias))
            return
        txn = self._clients.get((vias[0].branch, response.cseq.method))
        if txn is not None:
            txn.receive_response(response)
        else:
            self._tell("stray_response", response, source)

    def _receive_request(self, request: Request, source: Address, transport: str) -> None:
        via = request.top_via  # as sent, before stamping: what matching compares
        stamp_via(request, source)
        if request.method == "ACK":
            self._receive_ack(request, via, source)
            return
        txn = self._servers.match(request, via)
        if txn is not None:
            txn.receive_request(request)
            return
        txn = self._new_server(request, via, source, transport)
        status = self._screen(request)
        if status is not None:
            self._reply(txn, status)
            return
        if request.method == "CANCEL":
            self._receive_cancel(txn, request, via)
            return
        if request.to.tag is None:
            self._on_end(txn, self._servers.add_origin(txn))
        self._tell("request_received", txn, request)

    def _screen(self, request: Request) -> int | None:
        if request.max_forwards == 0 and request.method != "OPTIONS":
            return 483
        if request.method != "CANCEL" and self._servers.merged(request):
            # §8.2.2.2: a forking proxy's copies met again.  A CANCEL is
            # matched to its INVITE instead, never merged.
            return 482
        return None

    def _receive_ack(self, ack: Request, via: Via, source: Address) -> None:
        txn = self._servers.match(ack, via)
        if txn is not None and txn.state is not State.ACCEPTED:
            txn.receive_request(ack)  # the ACK of a non-2xx: part of the transaction
            return
        if txn is None:
            txn = self._servers.accepted(ack)
        if txn is not None:
            txn.receive_request(ack)  # stops the 2xx retransmission
        self._tell("ack_received", ack, source)

    def _receive_cancel(self, txn: ServerTransaction, cancel: Request, via: Via) -> None:
        target = self._servers.match(cancel, via, cancelled=True)
        if target is None:
            self._reply(txn, 481)  # §9.2
            return
        self._reply(txn, 200, target.to_tag)
        if target.method == "INVITE" and target.state is State.PROCEEDING and not target.cancelled:
            target.cancelled = True
            self._tell("cancelled", target, cancel)

    def _reply(self, txn: ServerTransaction, status: int, to_tag: str | None = None) -> None:
        txn.internal = True
        if to_tag is None and txn.request.to.tag is None:
            to_tag = self._new_tag()
        txn.reply(status, to_tag=to_tag)

    def _new_server(
        self, request: Request, via: Via, source: Address, transport: str
    ) -> ServerTransaction:
        cls = InviteServerTransaction if request.method == "INVITE" else NonInviteServerTransaction
        destination = response_destination(request.top_via, source, transport)
        txn = cls(
            self,
            self._clock,
            self._timers.for_transport(transport),
            request,
            source,
            destination,
            transport,
        )
        self._on_end(txn, self._servers.add(txn, via))
        return txn

    # -- output ----------------------------------------------------------------

    def request(
        self,
        request: Request,
        destination: Address,
        transport: str,
        *,
        on_provisional: Callable[[Response], None] | None = None,
        on_additional_2xx: Callable[[Response], None] | None = None,
    ) -> ClientTransaction:
        """
        Start a client transaction and send C{request}.

        The request is completed in place: a top Via from C{local_via} when
        it has none, and a fresh branch when its top Via has no RFC 3261 one.

        @param destination: the next hop's C{(host, port)}, already resolved
            (L{roomkit_sip.sip.dialog.Dialog.next_hop} for in-dialog requests,
            L{roomkit_sip.sip.routing.next_hop} for others).
        @param on_provisional: called with each 1xx.
        @param on_additional_2xx: INVITE only: called with each 2xx after the
            first (retransmissions, other forks), which the TU must ACK.
        @return: the transaction; its C{final} Deferred fires with the final
            response or fails with a L{TransactionError}.
        @raise ValueError: for ACK (not a transaction: use L{send_ack}), or
            a branch already in use.
        """
        if request.method == "ACK":
            raise ValueError("ACK starts no transaction: use send_ack()")
        complete_via(request, destination, transport, self._local_via, self._new_branch)
        return self._start_client(
            request, destination, transport, on_provisional, on_additional_2xx
        )

    def _start_client(
        self,
        request: Request,
        destination: Address,
        transport: str,
        on_provisional: Callable[[Response], None] | None = None,
        on_additional_2xx: Callable[[Response], None] | None = None,
    ) -> ClientTransaction:
        key = (request.top_via.branch, request.method)
        if key in self._clients:
            raise ValueError(f"branch {key[0]} already used by a {key[1]} transaction")
        cls = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
        txn = cls(
            self,
            self._clock,
            self._timers.for_transport(transport),
            request,
            destination,
            transport,
            on_provisional,
            on_additional_2xx,
        )
        self._clients[key] = txn
        self._on_end(txn, lambda: self._clients.pop(key, None))
        txn.start()
        return txn

    def cancel(self, txn: ClientTransaction) -> ClientTransaction | None:
        """
        Cancel a pending client INVITE (§9.1).  The CANCEL goes out now if a
        provisional response has arrived, else as soon as one does (a
        CANCEL before any response could overtake the INVITE).  The INVITE's
        C{final} still fires: normally with 487.

        @return: the CANCEL's client transaction if it was sent now; C{None}
            if it is deferred, already requested, or pointless (a final
            response came).
        """
        if not isinstance(txn, InviteClientTransaction):
            raise ValueError("only an INVITE can be cancelled")
        if txn.cancel_requested or txn.state not in (State.CALLING, State.PROCEEDING):
            return None
        txn.cancel_requested = True
        if txn.state is State.PROCEEDING:
            return self._send_cancel(txn)
        return None

    def send_ack(self, ack: Request, destination: Address, transport: str) -> None:
        """
        Send the ACK of a 2xx (§13.2.2.4), outside any transaction: once per
        2xx received.  It is completed like L{request} (Via, new branch) the
        first time, so resending the same object resends the same ACK.
        """
        complete_via(ack, destination, transport, self._local_via, self._new_branch)
        self._send(ack, destination, transport)

    def transport_failed(self, destination: Address, transport: str) -> None:
        """
        The transport lost C{destination} (connection closed, ICMP
        unreachable): every transaction talking to it fails (§17.1.1.2...).
        """
        error = ConnectionError(f"{transport} transport to {destination} failed")
        for txn in list(self._cleanups):
            if txn.destination == destination and txn.transport.upper() == transport.upper():
                txn.transport_error(error)

    def close(self) -> None:
        """
        Abandon every transaction and cancel every timer; pending client
        transactions fail with L{TransactionClosed}.
        """
        for txn in list(self._cleanups):
            if isinstance(txn, ClientTransaction):
                txn.close()
            else:
                txn.abort()

    # -- what the transactions call ------------------------------------------

    def _transmit(self, txn: Transaction, message: Request | Response) -> Exception | None:
        try:
            self._send(message, txn.destination, txn.transport)
        except Exception as error:
            _log.warn(
                "{txn!r} could not send to {destination}: {error!r}",
                txn=txn,
                destination=txn.destination,
                error=error,
            )
            return error
        return None

    def _on_end(self, txn: Transaction, cleanup: Callable[[], None]) -> None:
        if txn.ended:  # ended while being set up (a send failed at once)
            cleanup()
        else:
            self._cleanups.setdefault(txn, []).append(cleanup)

    def _terminated(self, txn: Transaction) -> None:
        for cleanup in self._cleanups.pop(txn, ()):
            cleanup()

    def _server_accepted(self, txn: ServerTransaction, response: Response) -> None:
        self._on_end(txn, self._servers.add_accepted(txn, response.to.tag))

    def _server_timeout(self, txn: ServerTransaction, kind: TimeoutKind) -> None:
        if not txn.internal:
            self._tell("timeout", txn, kind)

    def _server_failed(self, txn: ServerTransaction, error: object) -> None:
        if not txn.internal:
            self._tell("transport_error", txn, error)

    def _send_cancel(self, txn: InviteClientTransaction) -> ClientTransaction:
        cancel = self._start_client(cancel_for(txn.request), txn.destination, txn.transport)
        cancel.final.addErrback(
            lambda failure: _log.info("CANCEL failed: {error}", error=failure.value)
        )
        txn.cancel_sent()
        return cancel

    def _tell(self, method: str, *args: object) -> None:
        try:
            getattr(self._tu, method)(*args)
        except Exception:
            _log.failure("transaction user failed in {method}", method=method)
