# -*- test-case-name: tests.sip.test_transaction_server -*-
"""
RFC 3261 §17 transaction machinery: states, events, the table-driven
L{Transaction} base and the two server machines (§17.2.1, §17.2.2, with
RFC 6026's "Accepted" state).  The client machines build on the same base in
L{roomkit_sip.sip.client_transaction}.

Each machine is data: a C{_TABLE} mapping C{(state, event)} to
C{(action, next state)}.  An event missing from the table is ignored (a late
retransmission, a response after the end).  Invariants:

  - The state is set before the action runs; an action may fire a nested
    event (a zero-length timer on a reliable transport, a transport error
    from a send), so an action checks the result of each send.
  - Entering C{TERMINATED} cancels every timer and unregisters the
    transaction from its owner exactly once; nothing is scheduled after.
  - Every byte goes out through the owner (the
    L{roomkit_sip.sip.transactions.TransactionLayer}); a send that fails is
    the transport error of §17.1.1.2, §17.1.2.2, §17.2.1 and §17.2.2.

The machines know nothing about matching or the TU's interface: the layer
routes messages to them and reports what they tell it.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, ClassVar

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from roomkit_sip.sip.message import Request, Response, make_response
from roomkit_sip.sip.timers import TimerGroup, Timers

if TYPE_CHECKING:
    from roomkit_sip.sip.transactions import TransactionLayer

_log = Logger()

Address = tuple[str, int]

#: The magic cookie that starts every RFC 3261 branch (§8.1.1.7).
MAGIC_COOKIE = "z9hG4bK"


def new_branch() -> str:
    """A branch unique across space and time (§8.1.1.7): the cookie and 96 random bits."""
    return MAGIC_COOKIE + secrets.token_hex(12)


def new_tag() -> str:
    """A From/To tag with 64 bits of randomness (§19.3 asks for at least 32)."""
    return secrets.token_hex(8)


def is_rfc3261_branch(branch: str | None) -> bool:
    """
    Whether C{branch} identifies a transaction by itself (§17.2.3): it starts
    with the magic cookie and has something after it (a
    bare cookie falls back to RFC 2543 matching, RFC 4475 §3.2.1).
    """
    return branch is not None and branch.startswith(MAGIC_COOKIE) and len(branch) > 7


class State(enum.Enum):
    """Transaction states (§17.1.1, §17.1.2, §17.2.1, §17.2.2; RFC 6026 §7)."""

    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


class Event(enum.Enum):
    """What drives a machine: messages, TU actions, timers, transport errors."""

    REQUEST = "request"  # a retransmission of the server transaction's request
    ACK = "ack"
    PROVISIONAL = "1xx"
    SUCCESS = "2xx"  # to an INVITE; a non-INVITE 2xx is FINAL
    FINAL = "final"
    TRANSPORT_ERROR = "transport-error"
    TIMER_A = "A"
    TIMER_B = "B"
    TIMER_D = "D"
    TIMER_E = "E"
    TIMER_F = "F"
    TIMER_G = "G"
    TIMER_H = "H"
    TIMER_I = "I"
    TIMER_J = "J"
    TIMER_K = "K"
    TIMER_L = "L"
    TIMER_M = "M"
    TIMER_2XX = "2xx-retransmit"  # §13.3.1.4
    TIMER_TRYING = "100-trying"  # §17.2.1: the TU's 200 ms
    TIMER_CANCEL = "cancel"  # §9.1: 64*T1 after CANCEL without a final


class TimeoutKind(enum.Enum):
    """Why a server transaction gave up, as reported to the TU."""

    #: Timer H: a non-2xx final response was never acknowledged (§17.2.1).
    NO_ACK = "no-ack"
    #: No ACK for a 2xx within 64*T1 (§13.3.1.4): the TU should send BYE.
    NO_2XX_ACK = "no-2xx-ack"


class TransactionError(Exception):
    """A client transaction ended without a final response (§8.1.3.1)."""

    #: The status the failure is treated as.
    status = 500


class TransactionTimeout(TransactionError):
    """Timer B or F fired, or a cancelled INVITE got no final in 64*T1: a 408."""

    status = 408


class TransportFailure(TransactionError):
    """The transport could not send the request: treated as a 503."""

    status = 503


class TransactionClosed(TransactionError):
    """The transaction layer was closed while the transaction was pending."""

    status = 503


_Action = Callable[["Transaction", object], None]


class Transaction:
    """
    What every machine shares: the request, where it talks to, the timers
    and the table-driven L{_fire}.

    @ivar request: the request that created the transaction.
    @ivar destination: the peer's C{(host, port)}: where the request goes
        (client) or where responses go (server, §18.2.2).
    @ivar transport: the Via transport token (C{"UDP"}, C{"TCP"}...).
    @ivar state: the current L{State}.
    """

    _TABLE: ClassVar[dict[tuple[State, Event], tuple[_Action | None, State]]] = {}
    _INITIAL: ClassVar[State]

    def __init__(
        self,
        owner: TransactionLayer,
        clock: IReactorTime,
        timers: Timers,
        request: Request,
        destination: Address,
        transport: str,
    ) -> None:
        self.request = request
        self.method = request.method
        self.branch = request.top_via.branch
        self.destination = destination
        self.transport = transport
        self.state = self._INITIAL
        self.timers = timers
        self._owner = owner
        self._group = TimerGroup(clock)
        self._ended = False

    @property
    def ended(self) -> bool:
        """Whether the transaction has terminated."""
        return self._ended

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.branch} {self.state.value}>"

    def _fire(self, event: Event, arg: object = None) -> bool:
        """
        Run the transition for C{event}; C{False} if the table ignores it.
        """
        entry = self._TABLE.get((self.state, event))
        if entry is None or self._ended:
            return False
        action, self.state = entry
        if action is not None:
            action(self, arg)
        if self.state is State.TERMINATED:
            self._terminate()
        return True

    def _after(self, event: Event, delay: float) -> None:
        """Fire C{event} after C{delay}; at once when it is zero (§17: reliable)."""
        if self._ended:
            return
        if delay <= 0:
            self._fire(event)
        else:
            self._group.start(event.value, delay, lambda: self._fire(event))

    def _stop(self, *events: Event) -> None:
        for event in events:
            self._group.cancel(event.value)

    def _send(self, message: Request | Response) -> bool:
        """Send through the owner; a failure fires L{Event.TRANSPORT_ERROR}."""
        if self._ended:
            return False
        error = self._owner._transmit(self, message)
        if error is None:
            return True
        self._fire(Event.TRANSPORT_ERROR, error)
        return False

    def _terminate(self) -> None:
        if self._ended:
            return
        self._ended = True
        self.state = State.TERMINATED
        self._group.cancel_all()
        self._owner._terminated(self)

    def transport_error(self, error: Exception) -> None:
        """The transport reports it cannot reach the peer (ICMP, lost connection)."""
        self._fire(Event.TRANSPORT_ERROR, error)

    def abort(self) -> None:
        """End now, cancelling every timer, without sending anything."""
        self._terminate()


# -- server side (§17.2) ------------------------------------------------------


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
