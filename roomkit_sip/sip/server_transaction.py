# -*- test-case-name: tests.sip.test_transaction_server -*-
"""
The server transaction machines of RFC 3261 §17.2: INVITE (§17.2.1, with
RFC 6026 §7.1's "Accepted" state and the §13.3.1.4 2xx retransmission) and
non-INVITE (§17.2.2).  See L{roomkit_sip.sip.transaction} for the invariants
every machine keeps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from roomkit_sip.sip.message import Request, Response, make_response
from roomkit_sip.sip.timers import Timers
from roomkit_sip.sip.transaction import Address, Event, State, TimeoutKind, Transaction

if TYPE_CHECKING:
    from roomkit_sip.sip.transactions import TransactionLayer

_log = Logger()


class ServerTransaction(Transaction):
    """
    A server transaction, handed to the TU with the request.  The TU answers
    with L{respond} or L{reply}.

    @ivar source: where the request came from.
    @ivar last_response: the response sent last, resent on retransmissions.
    @ivar to_tag: the To tag of the responses sent (ACK matching, CANCEL).
    @ivar cancelled: a CANCEL matched this transaction (§9.2).
    @ivar internal: the layer answered the request itself (481, 482, 483,
        CANCEL); the TU never sees the transaction.
    """

    internal = False

    def __init__(
        self,
        owner: TransactionLayer,
        clock: IReactorTime,
        timers: Timers,
        request: Request,
        source: Address,
        destination: Address,
        transport: str,
    ) -> None:
        super().__init__(owner, clock, timers, request, destination, transport)
        self.source = source
        self.last_response: Response | None = None
        self.to_tag: str | None = None
        self.cancelled = False

    def respond(self, response: Response) -> bool:
        """
        Send C{response} from the TU.  A response the state does not allow
        (a second final, anything after the end) is discarded (§17.2.1,
        §17.2.2) and C{False} returned.
        """
        status = response.status
        if status < 200:
            event = Event.PROVISIONAL
        elif status < 300 and self.method == "INVITE":
            event = Event.SUCCESS
        else:
            event = Event.FINAL
        if self._fire(event, response):
            return True
        _log.warn(
            "{status} discarded by {txn!r} in state {state}",
            status=status,
            txn=self,
            state=self.state.value,
        )
        return False

    def reply(
        self,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        headers: Iterable[tuple[str, object]] = (),
        body: bytes = b"",
    ) -> Response:
        """
        Build a response with L{make_response} (§8.2.6) and L{respond} it.
        """
        response = make_response(
            self.request, status, reason, to_tag=to_tag, headers=headers, body=body
        )
        self.respond(response)
        return response

    def receive_request(self, request: Request) -> None:
        """A retransmission of the request matched this transaction (§17.2.3)."""
        self._fire(Event.ACK if request.method == "ACK" else Event.REQUEST, request)

    def _respond(self, response: object) -> None:
        assert isinstance(response, Response)
        self.last_response = response
        tag = response.to.tag
        if tag is not None:
            self.to_tag = tag
        self._send(response)

    def _resend(self, _: object) -> None:
        if self.last_response is not None:
            self._send(self.last_response)

    def _transport_failed(self, error: object) -> None:
        self._owner._server_failed(self, error)


class NonInviteServerTransaction(ServerTransaction):
    """§17.2.2: Trying, Proceeding, Completed (Timer J), Terminated."""

    _INITIAL = State.TRYING

    def _complete(self, response: object) -> None:
        self._respond(response)
        self._after(Event.TIMER_J, self.timers.j)

    _TABLE = {
        (State.TRYING, Event.REQUEST): (None, State.TRYING),  # absorbed
        (State.TRYING, Event.PROVISIONAL): (ServerTransaction._respond, State.PROCEEDING),
        (State.TRYING, Event.FINAL): (_complete, State.COMPLETED),
        (State.PROCEEDING, Event.REQUEST): (ServerTransaction._resend, State.PROCEEDING),
        (State.PROCEEDING, Event.PROVISIONAL): (ServerTransaction._respond, State.PROCEEDING),
        (State.PROCEEDING, Event.FINAL): (_complete, State.COMPLETED),
        (State.COMPLETED, Event.REQUEST): (ServerTransaction._resend, State.COMPLETED),
        (State.COMPLETED, Event.TIMER_J): (None, State.TERMINATED),
        **{
            (state, Event.TRANSPORT_ERROR): (ServerTransaction._transport_failed, State.TERMINATED)
            for state in (State.TRYING, State.PROCEEDING, State.COMPLETED)
        },
    }  # type: ignore[dict-item]


class InviteServerTransaction(ServerTransaction):
    """
    §17.2.1 with RFC 6026 §7.1: Proceeding, Completed (Timers G, H),
    Confirmed (Timer I), Accepted (Timer L), Terminated.

    In Accepted the transaction also does the UAS core's 2xx duty of
    §13.3.1.4, because it lives exactly as long: the 2xx is resent at T1,
    doubling to T2, on every transport (hops beyond the first may be UDP),
    until an ACK arrives; if none has by Timer L (64*T1) the TU is told
    (L{TimeoutKind.NO_2XX_ACK}) and should send BYE.

    @ivar acked: the 2xx was acknowledged.
    """

    _INITIAL = State.PROCEEDING

    def __init__(
        self,
        owner: TransactionLayer,
        clock: IReactorTime,
        timers: Timers,
        request: Request,
        source: Address,
        destination: Address,
        transport: str,
    ) -> None:
        super().__init__(owner, clock, timers, request, source, destination, transport)
        self.acked = False
        self._interval = self.timers.t1
        # §17.2.1: 100 Trying unless the TU answers within 200 ms.
        self._after(Event.TIMER_TRYING, self.timers.trying)

    def _send_trying(self, _: object) -> None:
        self._respond(make_response(self.request, 100))

    def _provisional(self, response: object) -> None:
        self._stop(Event.TIMER_TRYING)
        self._respond(response)

    def _reject(self, response: object) -> None:
        self._stop(Event.TIMER_TRYING)
        self._respond(response)
        if self.timers.g is not None:
            self._interval = self.timers.g
            self._after(Event.TIMER_G, self._interval)
        self._after(Event.TIMER_H, self.timers.h)

    def _retransmit_final(self, _: object) -> None:
        self._interval = self.timers.backoff(self._interval)
        if self._send(self.last_response):  # type: ignore[arg-type]
            self._after(Event.TIMER_G, self._interval)

    def _confirm(self, _: object) -> None:
        self._stop(Event.TIMER_G, Event.TIMER_H)
        self._after(Event.TIMER_I, self.timers.i)

    def _no_ack(self, _: object) -> None:
        self._owner._server_timeout(self, TimeoutKind.NO_ACK)

    def _accept(self, response: object) -> None:
        self._stop(Event.TIMER_TRYING)
        self._owner._server_accepted(self, response)  # type: ignore[arg-type]
        self._respond(response)
        self._interval = self.timers.t1
        self._after(Event.TIMER_2XX, self._interval)
        self._after(Event.TIMER_L, self.timers.l)

    def _send_2xx_again(self, response: object) -> None:
        # RFC 6026 §7.1: a 2xx from the TU in Accepted is sent, and it is the
        # one retransmitted from now on.
        self._respond(response)

    def _retransmit_2xx(self, _: object) -> None:
        self._interval = self.timers.backoff(self._interval)
        if self._send(self.last_response):  # type: ignore[arg-type]
            self._after(Event.TIMER_2XX, self._interval)

    def _acked_2xx(self, _: object) -> None:
        self.acked = True
        self._stop(Event.TIMER_2XX)

    def _accepted_over(self, _: object) -> None:
        if not self.acked:
            self._owner._server_timeout(self, TimeoutKind.NO_2XX_ACK)

    _TABLE = {
        (State.PROCEEDING, Event.TIMER_TRYING): (_send_trying, State.PROCEEDING),
        (State.PROCEEDING, Event.REQUEST): (ServerTransaction._resend, State.PROCEEDING),
        (State.PROCEEDING, Event.PROVISIONAL): (_provisional, State.PROCEEDING),
        (State.PROCEEDING, Event.SUCCESS): (_accept, State.ACCEPTED),
        (State.PROCEEDING, Event.FINAL): (_reject, State.COMPLETED),
        (State.COMPLETED, Event.REQUEST): (ServerTransaction._resend, State.COMPLETED),
        (State.COMPLETED, Event.TIMER_G): (_retransmit_final, State.COMPLETED),
        (State.COMPLETED, Event.ACK): (_confirm, State.CONFIRMED),
        (State.COMPLETED, Event.TIMER_H): (_no_ack, State.TERMINATED),
        (State.CONFIRMED, Event.REQUEST): (None, State.CONFIRMED),  # absorbed
        (State.CONFIRMED, Event.ACK): (None, State.CONFIRMED),  # absorbed
        (State.CONFIRMED, Event.TIMER_I): (None, State.TERMINATED),
        (State.ACCEPTED, Event.REQUEST): (None, State.ACCEPTED),  # absorbed, RFC 6026
        (State.ACCEPTED, Event.SUCCESS): (_send_2xx_again, State.ACCEPTED),
        (State.ACCEPTED, Event.ACK): (_acked_2xx, State.ACCEPTED),
        (State.ACCEPTED, Event.TIMER_2XX): (_retransmit_2xx, State.ACCEPTED),
        (State.ACCEPTED, Event.TIMER_L): (_accepted_over, State.TERMINATED),
        **{
            (state, Event.TRANSPORT_ERROR): (ServerTransaction._transport_failed, State.TERMINATED)
            for state in (State.PROCEEDING, State.COMPLETED, State.ACCEPTED)
        },
    }  # type: ignore[dict-item]
