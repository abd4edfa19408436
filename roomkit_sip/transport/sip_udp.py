# -*- test-case-name: tests.transport.test_sip_udp -*-
"""
SIP over UDP: one datagram is one message (RFC 3261 §18.3).

L{SIPDatagramProtocol} only translates: a datagram is parsed and handed, with
its source, to the C{deliver} callable (the transaction layer's C{receive});
bytes to send go out with L{SIPDatagramProtocol.send}.  A datagram that does
not parse is answered with the status its L{SIPParseError} carries when the
parser salvaged enough of a request to route an answer (§8.2, §18.2.2, the
response built from C{error.partial}), and dropped otherwise.  Nothing raises
into the reactor.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.message import Request, Response, make_response
from roomkit_sip.sip.parser import parse_message
from roomkit_sip.sip.routing import response_destination, stamp_via
from roomkit_sip.sip.transaction import new_tag

__all__ = ["SIPDatagramProtocol", "error_answer"]

#: Module-level, not per instance: an event's log_source would keep the
#: object (a call and its media) alive in any observer that retains events.
_log = Logger()

Addr = tuple[str, int]
#: C{deliver(message, source, transport)}.
Deliver = Callable[[Request | Response, Addr, str], object]


#: Where an answer goes (§18.2.2); without it, it reaches nobody.
_ROUTED_BY = ("Via",)


def error_answer(error: SIPParseError, source: Addr, transport: str) -> tuple[bytes, Addr] | None:
    """
    The answer to a request that failed to parse, and where it goes, or
    C{None} when there is nothing to answer (a response, an ACK, no Via to
    send it along).  What was salvaged is copied (§8.2.6.2): a field that
    was itself the defect (an out-of-range CSeq, RFC 4475 §3.1.2.4) is
    missing from the answer, which still tells the sender why.

    The status and reason come from the error (400, 505...); its detail,
    which never echoes the offending bytes, goes in a C{Warning} (§20.43,
    warn-code 399: miscellaneous).
    """
    partial = error.partial
    if partial is None or partial.method == "ACK":
        return None
    if any(name not in partial.headers for name in _ROUTED_BY):
        return None
    try:
        stamp_via(partial, source)
        destination = response_destination(partial.top_via, source, transport)
        headers = [("Warning", f'399 - "{_warning_text(error.detail)}"')] if error.detail else []
        tag = None if "To" in partial.headers and partial.to.tag is not None else new_tag()
        response = make_response(partial, error.status, error.reason, to_tag=tag, headers=headers)
        return bytes(response), destination
    except (SIPParseError, ValueError):
        return None  # the salvaged fields cannot make an answer


def _warning_text(detail: str) -> str:
    return "".join(c for c in detail if c.isprintable() and c not in '"\\')[:120]


def is_keepalive(data: bytes) -> bool:
    """CRLF keep-alives (RFC 5626 §4.4.1) and NAT keep-alive padding: ignored."""
    return not data.strip(b"\r\n\t \x00")


class SIPDatagramProtocol(DatagramProtocol):
    """
    The SIP UDP socket.

    @ivar received: datagrams received.
    @ivar parse_errors: datagrams that did not parse (answered or dropped).
    @ivar deliver_errors: messages whose consumer raised (logged, a bug).
    """

    noisy = False

    def __init__(self, deliver: Deliver) -> None:
        """
        @param deliver: receives every parsed message with its source and
            the transport name C{"UDP"}.
        """
        self._deliver = deliver
        self.received = 0
        self.parse_errors = 0
        self.deliver_errors = 0

    def datagramReceived(self, datagram: bytes, addr: Addr) -> None:
        self.received += 1
        if is_keepalive(datagram):
            return
        source = (addr[0], addr[1])
        try:
            message = parse_message(datagram)
        except SIPParseError as error:
            self.parse_errors += 1
            self._answer(error, source)
            return
        except Exception:  # the parser's contract says this cannot happen
            self.parse_errors += 1
            _log.failure("SIP parser raised on a datagram from {source}", source=source)
            return
        try:
            self._deliver(message, source, "UDP")
        except Exception:
            self.deliver_errors += 1
            _log.failure("SIP message from {source} broke its consumer", source=source)

    def _answer(self, error: SIPParseError, source: Addr) -> None:
        _log.info(
            "unparsable SIP datagram from {source}: {status} {detail}",
            source=source,
            status=error.status,
            detail=error.detail,
        )
        answer = error_answer(error, source, "UDP")
        if answer is None:
            return
        try:
            self.send(*answer)
        except Exception as e:
            _log.info("could not answer {source}: {error!r}", source=source, error=e)

    def send(self, data: bytes, addr: Addr) -> None:
        """
        Write one datagram.

        @raise Exception: what the socket raised (C{OSError},
            C{MessageLengthError}...), for the transaction layer to treat as
            a transport error (§18.1.1).
        """
        if self.transport is None:
            raise ConnectionError("the SIP UDP port is closed")
        self.transport.write(data, addr)
