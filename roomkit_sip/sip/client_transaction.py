# -*- test-case-name: tests.sip.test_transaction_client -*-
"""
The client transaction machines of RFC 3261 §17.1 (INVITE with RFC 6026's
"Accepted" state, and non-INVITE), and the two requests a client builds from
another: the ACK for a non-2xx final response (§17.1.1.3) and CANCEL (§9.1).

They share the table-driven base of L{roomkit_sip.sip.transaction}; see its
docstring for the invariants every machine keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from roomkit_sip.sip.headers import Headers
from roomkit_sip.sip.message import Request, Response
from roomkit_sip.sip.timers import Timers
from roomkit_sip.sip.transaction import (
    Address,
    Event,
    State,
    Transaction,
    TransactionClosed,
    TransactionError,
    TransactionTimeout,
    TransportFailure,
)

if TYPE_CHECKING:
    from roomkit_sip.sip.transactions import TransactionLayer

_log = Logger()


def _derived(request: Request, method: str, to: str) -> Request:
    # The INVITE's Request-URI, top Via only (same branch), Route values,
    # From, Call-ID and CSeq number; Max-Forwards as any request (§8.1.1.6).
    headers = Headers()
    headers.add("Via", request.top_via)
    for route in request.headers.rows("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", 70)
    headers.add("From", request.headers.rows("From")[0])
    headers.add("To", to)
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", f"{request.cseq.seq} {method}")
    return Request(method, request.uri, headers)


def ack_for_non2xx(request: Request, response: Response) -> Request:
    """
    The ACK a client INVITE transaction sends for a 300-699 response
    (§17.1.1.3): built from the INVITE, with the response's To (and tag).
    """
    return _derived(request, "ACK", response.headers.rows("To")[0])


def cancel_for(request: Request) -> Request:
    """
    The CANCEL for a client request (§9.1): identical Request-URI, Call-ID,
    From, To and CSeq number, the same Route values, and a single Via equal
    to the request's top Via, so it reaches the same server transaction.
    """
    return _derived(request, "CANCEL", request.headers.rows("To")[0])


_Listener = Callable[[Response], None]


class ClientTransaction(Transaction):
    """
    A client transaction, returned by L{TransactionLayer.request}.

    @ivar final: fires with the first final response (for an INVITE, the
        first 2xx or the 300-699 response), or fails with a
        L{TransactionError}: L{TransactionTimeout} (408) or
        L{TransportFailure} (503), as §8.1.3.1 asks the TU to treat them.
    @ivar provisional_received: a 1xx arrived (a CANCEL may be sent, §9.1).
    @ivar last_response: the latest response passed up.
    """

    def __init__(
        self,
        owner: TransactionLayer,
        clock: IReactorTime,
        timers: Timers,
        request: Request,
        destination: Address,
        transport: str,
        on_provisional: _Listener | None = None,
        on_additional_2xx: _Listener | None = None,
    ) -> None:
        super().__init__(owner, clock, timers, request, destination, transport)
        self.final: Deferred[Response] = Deferred()
        self.provisional_received = False
        self.last_response: Response | None = None
        self._on_provisional = on_provisional
        self._on_additional_2xx = on_additional_2xx
        self._interval = timers.t1

    def receive_response(self, response: Response) -> None:
        """A response matched to this transaction (§17.1.3)."""
        status = response.status
        if status < 200:
            event = Event.PROVISIONAL
        elif status < 300 and self.method == "INVITE":
            event = Event.SUCCESS
        else:
            event = Event.FINAL
        self._fire(event, response)

    def _notify(self, listener: _Listener | None, response: Response) -> None:
        self.last_response = response
        if listener is None:
            return
        try:
            listener(response)
        except Exception:
            _log.failure("response listener of {txn!r} failed", txn=self)

    def _provisional(self, response: object) -> None:
        self.provisional_received = True
        self._notify(self._on_provisional, response)  # type: ignore[arg-type]

    def _deliver(self, response: object) -> None:
        assert isinstance(response, Response)
        self.last_response = response
        if not self.final.called:
            self.final.callback(response)

    def _fail(self, error: TransactionError) -> None:
        if not self.final.called:
            self.final.errback(error)

    def _timed_out(self, _: object) -> None:
        self._fail(TransactionTimeout(f"{self.method} timed out"))

    def _transport_failed(self, error: object) -> None:
        self._fail(TransportFailure(f"{self.method} could not be sent: {error}"))

    def close(self) -> None:
        """End now; a pending L{final} fails with L{TransactionClosed}."""
        self._fail(TransactionClosed(f"{self.method} abandoned: transaction layer closed"))
        self._terminate()


# The shared actions, named once for the tables below.
_provisional = ClientTransaction._provisional
_timed_out = ClientTransaction._timed_out
_failed = ClientTransaction._transport_failed


class NonInviteClientTransaction(ClientTransaction):
    """§17.1.2: Trying (Timers E, F), Proceeding, Completed (Timer K), Terminated."""

    _INITIAL = State.TRYING

    def start(self) -> None:
        """Send the request and arm Timers E (unreliable only) and F."""
        if not self._send(self.request):
            return
        if self.timers.e is not None:
            self._interval = self.timers.e
            self._after(Event.TIMER_E, self._interval)
        self._after(Event.TIMER_F, self.timers.f)

    def _retransmit(self, _: object) -> None:
        # §17.1.2.2: in Trying the interval doubles up to T2; in Proceeding
        # it is T2.
        if self.state is State.TRYING:
            self._interval = self.timers.backoff(self._interval)
        else:
            self._interval = self.timers.t2
        if self._send(self.request):
            self._after(Event.TIMER_E, self._interval)

    def _complete(self, response: object) -> None:
        self._stop(Event.TIMER_E, Event.TIMER_F)
        self._deliver(response)
        self._after(Event.TIMER_K, self.timers.k)

    _TABLE = {
        (State.TRYING, Event.TIMER_E): (_retransmit, State.TRYING),
        (State.TRYING, Event.PROVISIONAL): (_provisional, State.PROCEEDING),
        (State.TRYING, Event.FINAL): (_complete, State.COMPLETED),
        (State.TRYING, Event.TIMER_F): (_timed_out, State.TERMINATED),
        (State.TRYING, Event.TRANSPORT_ERROR): (_failed, State.TERMINATED),
        (State.PROCEEDING, Event.TIMER_E): (_retransmit, State.PROCEEDING),
        (State.PROCEEDING, Event.PROVISIONAL): (_provisional, State.PROCEEDING),
        (State.PROCEEDING, Event.FINAL): (_complete, State.COMPLETED),
        (State.PROCEEDING, Event.TIMER_F): (_timed_out, State.TERMINATED),
        (State.PROCEEDING, Event.TRANSPORT_ERROR): (_failed, State.TERMINATED),
        (State.COMPLETED, Event.PROVISIONAL): (None, State.COMPLETED),  # absorbed
        (State.COMPLETED, Event.FINAL): (None, State.COMPLETED),  # absorbed
        (State.COMPLETED, Event.TIMER_K): (None, State.TERMINATED),
    }  # type: ignore[dict-item]


class InviteClientTransaction(ClientTransaction):
    """
    §17.1.1 with RFC 6026 §7.2: Calling (Timers A, B), Proceeding,
    Completed (Timer D), Accepted (Timer M), Terminated.

    The TU acknowledges 2xx responses itself (§13.2.2.4); in Accepted every
    further 2xx (a retransmission, or another fork's answer) goes to the
    C{on_additional_2xx} listener so that it can be acknowledged too.

    @ivar cancel_requested: the TU asked for a CANCEL (§9.1).
    """

    _INITIAL = State.CALLING
    cancel_requested = False
    _ack: Request | None = None

    def start(self) -> None:
        """Send the INVITE and arm Timers A (unreliable only) and B."""
        if not self._send(self.request):
            return
        if self.timers.a is not None:
            self._interval = self.timers.a
            self._after(Event.TIMER_A, self._interval)
        self._after(Event.TIMER_B, self.timers.b)

    def cancel_sent(self) -> None:
        """
        A CANCEL went out: give the INVITE 64*T1 more for its final response
        before treating it as cancelled (§9.1), since Proceeding has no
        Timer B.
        """
        self._after(Event.TIMER_CANCEL, self.timers.b)

    def _retransmit(self, _: object) -> None:
        self._interval *= 2  # §17.1.1.2: Timer A doubles without a cap
        if self._send(self.request):
            self._after(Event.TIMER_A, self._interval)

    def _proceed(self, response: object) -> None:
        self._stop(Event.TIMER_A, Event.TIMER_B)
        first = not self.provisional_received
        self._provisional(response)
        if first and self.cancel_requested and not self._ended:
            self._owner._send_cancel(self)

    def _accept(self, response: object) -> None:
        self._stop(Event.TIMER_A, Event.TIMER_B, Event.TIMER_CANCEL)
        self._deliver(response)
        self._after(Event.TIMER_M, self.timers.m)

    def _additional_2xx(self, response: object) -> None:
        self._notify(self._on_additional_2xx, response)  # type: ignore[arg-type]

    def _reject(self, response: object) -> None:
        assert isinstance(response, Response)
        self._stop(Event.TIMER_A, Event.TIMER_B, Event.TIMER_CANCEL)
        self._ack = ack_for_non2xx(self.request, response)
        self._deliver(response)
        if self._send(self._ack):
            self._after(Event.TIMER_D, self.timers.d)

    def _resend_ack(self, _: object) -> None:
        self._send(self._ack)  # type: ignore[arg-type]

    _TABLE = {
        (State.CALLING, Event.TIMER_A): (_retransmit, State.CALLING),
        (State.CALLING, Event.TIMER_B): (_timed_out, State.TERMINATED),
        (State.CALLING, Event.PROVISIONAL): (_proceed, State.PROCEEDING),
        (State.CALLING, Event.SUCCESS): (_accept, State.ACCEPTED),
        (State.CALLING, Event.FINAL): (_reject, State.COMPLETED),
        (State.CALLING, Event.TRANSPORT_ERROR): (_failed, State.TERMINATED),
        (State.PROCEEDING, Event.PROVISIONAL): (_proceed, State.PROCEEDING),
        (State.PROCEEDING, Event.SUCCESS): (_accept, State.ACCEPTED),
        (State.PROCEEDING, Event.FINAL): (_reject, State.COMPLETED),
        (State.PROCEEDING, Event.TIMER_CANCEL): (_timed_out, State.TERMINATED),
        (State.PROCEEDING, Event.TRANSPORT_ERROR): (_failed, State.TERMINATED),
        (State.COMPLETED, Event.FINAL): (_resend_ack, State.COMPLETED),
        (State.COMPLETED, Event.PROVISIONAL): (None, State.COMPLETED),  # absorbed
        (State.COMPLETED, Event.TIMER_D): (None, State.TERMINATED),
        (State.COMPLETED, Event.TRANSPORT_ERROR): (None, State.TERMINATED),
        (State.ACCEPTED, Event.SUCCESS): (_additional_2xx, State.ACCEPTED),
        (State.ACCEPTED, Event.PROVISIONAL): (None, State.ACCEPTED),  # absorbed
        (State.ACCEPTED, Event.FINAL): (None, State.ACCEPTED),  # absorbed
        (State.ACCEPTED, Event.TIMER_M): (None, State.TERMINATED),
    }  # type: ignore[dict-item]
