"""
Shared fixtures for the transaction tests: a recording transaction user, a
recording wire, and request/response builders that go through the real
parser, so the layer sees exactly what a transport would hand it.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from zope.interface import implementer

from roomkit_sip.sip import Headers, Request, Response, make_response, parse_message
from roomkit_sip.sip.fields import Via
from roomkit_sip.sip.timers import TimerSettings
from roomkit_sip.sip.transactions import ITransactionUser, TransactionLayer

PEER = ("192.0.2.1", 5060)
ME = ("192.0.2.10", 5060)


def request(
    method: str = "INVITE",
    *,
    branch: str | None = "z9hG4bKbranch1",
    via: str = "SIP/2.0/UDP 192.0.2.1:5060",
    from_tag: str | None = "ftag",
    to_tag: str | None = None,
    call_id: str = "call-1@192.0.2.1",
    cseq: int = 1,
    cseq_method: str | None = None,
    uri: str = "sip:bob@192.0.2.10",
    max_forwards: int | None = 70,
    extra: str = "",
) -> Request:
    """A request as the parser returns it."""
    branch_param = "" if branch is None else f";branch={branch}"
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: {via}{branch_param}",
        f"From: <sip:alice@example.com>{'' if from_tag is None else ';tag=' + from_tag}",
        f"To: <sip:bob@example.com>{'' if to_tag is None else ';tag=' + to_tag}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {cseq_method or method}",
        "Contact: <sip:alice@192.0.2.1:5060>",
    ]
    if max_forwards is not None:
        lines.append(f"Max-Forwards: {max_forwards}")
    text = "\r\n".join(lines) + "\r\n" + extra + "\r\n"
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def outgoing(method: str = "INVITE", seq: int = 1, routes: tuple[str, ...] = ()) -> Request:
    """A request as a UAC core builds it: no Via yet (the layer adds it)."""
    headers = Headers()
    for route in routes:
        headers.add("Route", route)
    headers.add("Max-Forwards", 70)
    headers.add("From", "<sip:alice@example.com>;tag=ftag")
    headers.add("To", "<sip:bob@example.com>")
    headers.add("Call-ID", "uac-1@192.0.2.10")
    headers.add("CSeq", f"{seq} {method}")
    headers.add("Contact", "<sip:alice@192.0.2.10:5060>")
    return Request(method, "sip:bob@192.0.2.20", headers)


def reparse(message: Request | Response) -> Request | Response:
    """What the peer receives: the message serialised and parsed again."""
    return parse_message(bytes(message))


def response(req: Request, status: int, to_tag: str | None = "ttag", **kw: object) -> Response:
    """A response to C{req} as the parser returns it."""
    built = make_response(req, status, to_tag=to_tag, **kw)  # type: ignore[arg-type]
    parsed = reparse(built)
    assert isinstance(parsed, Response)
    return parsed


@implementer(ITransactionUser)
class RecordingTU:
    """Records every call the layer makes, as tuples."""

    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []
        self.txns: list[object] = []

    def request_received(self, txn, request):  # type: ignore[no-untyped-def]
        self.txns.append(txn)
        self.events.append(("request", request.method))

    def cancelled(self, txn, cancel):  # type: ignore[no-untyped-def]
        self.events.append(("cancelled", txn.method))

    def ack_received(self, ack, source):  # type: ignore[no-untyped-def]
        self.events.append(("ack", ack.cseq.seq, source))

    def stray_response(self, response, source):  # type: ignore[no-untyped-def]
        self.events.append(("stray", response.status, response.cseq.method))

    def timeout(self, txn, kind):  # type: ignore[no-untyped-def]
        self.events.append(("timeout", txn.method, kind))

    def transport_error(self, txn, error):  # type: ignore[no-untyped-def]
        self.events.append(("transport_error", txn.method))


class Wire:
    """The injected C{send}: records (time, what, destination, transport)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.messages: list[Request | Response] = []
        self.log: list[tuple[float, object, tuple[str, int], str]] = []
        self.fail_with: Exception | None = None

    def __call__(self, message: Request | Response, destination: tuple[str, int], transport: str):  # type: ignore[no-untyped-def]
        if self.fail_with is not None:
            raise self.fail_with
        what = message.method if isinstance(message, Request) else message.status
        self.messages.append(message)
        self.log.append((self.clock.seconds(), what, destination, transport))

    def times(self, what: object) -> list[float]:
        """When C{what} (a method or a status) was sent."""
        return [round(entry[0], 6) for entry in self.log if entry[1] == what]

    def sent(self) -> list[object]:
        """What was sent, in order (methods and statuses)."""
        return [entry[1] for entry in self.log]

    def last(self) -> Request | Response:
        return self.messages[-1]


def make_layer(
    t1: float = 0.5, **kwargs: object
) -> tuple[Clock, Wire, RecordingTU, TransactionLayer]:
    """A layer on a fresh clock, with T1 (and so the whole schedule) set."""
    clock = Clock()
    wire = Wire(clock)
    tu = RecordingTU()
    layer = TransactionLayer(
        clock,
        wire,
        tu,
        TimerSettings(t1=t1),
        local_via=lambda destination, transport: Via(transport, "192.0.2.10", 5060).with_params(
            rport=True
        ),
        **kwargs,  # type: ignore[arg-type]
    )
    return clock, wire, tu, layer


def advance(clock: Clock, until: float) -> None:
    """
    Run the clock to C{until} seconds, stopping at each pending call's own
    time, so that what it sends is logged at the instant it was scheduled.
    """
    while True:
        due = [call.getTime() for call in clock.getDelayedCalls()]
        if not due or min(due) > until + 1e-9:
            break
        clock.advance(max(0.0, min(due) - clock.seconds()))
    if clock.seconds() < until:
        clock.advance(until - clock.seconds())
