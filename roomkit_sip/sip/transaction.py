# -*- test-case-name: tests.sip.test_transaction_server,tests.sip.test_transaction_client -*-
"""
RFC 3261 §17 transaction machinery shared by the four machines: states,
events, identifiers, the errors a client transaction fails with, and the
table-driven L{Transaction} base.  The machines live one side per module:
L{roomkit_sip.sip.server_transaction} (§17.2.1, §17.2.2) and
L{roomkit_sip.sip.client_transaction} (§17.1.1, §17.1.2), both with RFC 6026's
"Accepted" state for INVITE.

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
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from twisted.internet.interfaces import IReactorTime

from roomkit_sip.sip.message import Request, Response
from roomkit_sip.sip.timers import TimerGroup, Timers

if TYPE_CHECKING:
    from roomkit_sip.sip.transactions import TransactionLayer

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
