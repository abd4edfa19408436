# -*- test-case-name: tests.sip.test_reason -*-
"""
The Reason header field (RFC 3326): why a BYE or CANCEL was sent, e.g.
C{Q.850;cause=16;text="Normal call clearing"} when a PSTN leg hung up
normally, or C{SIP;cause=200;text="Call completed elsewhere"} on a CANCEL.

  Reason            =  "Reason" HCOLON reason-value *(COMMA reason-value)
  reason-value      =  protocol *(SEMI reason-params)
  protocol          =  "SIP" / "Q.850" / token
  reason-params     =  protocol-cause / reason-text / reason-extension
  protocol-cause    =  "cause" EQUAL cause
  cause             =  1*DIGIT
  reason-text       =  "text" EQUAL quoted-string
  reason-extension  =  generic-param
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from roomkit_sip.sip import _grammar as g
from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.fields import EMPTY_PARAMS, Params, parse_params, quote_string, unquote_string
from roomkit_sip.sip.message import Request, Response

__all__ = ["Q850_TEXTS", "Reason", "find_reason", "parse_reason", "parse_reasons", "q850"]

#: ITU-T Q.850 cause values a voice backend meets, with their standard names.
Q850_TEXTS = {
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal call clearing",
    17: "User busy",
    18: "No user responding",
    19: "No answer from user (user alerted)",
    20: "Subscriber absent",
    21: "Call rejected",
    22: "Number changed",
    27: "Destination out of order",
    28: "Invalid number format (address incomplete)",
    31: "Normal, unspecified",
    34: "No circuit/channel available",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Switching equipment congestion",
    47: "Resource unavailable, unspecified",
    58: "Bearer capability not presently available",
    88: "Incompatible destination",
    102: "Recovery on timer expiry",
    111: "Protocol error, unspecified",
    127: "Interworking, unspecified",
}

_REASON_RE = re.compile(rf"({g.TOKEN})((?:{g.GENERIC_PARAM})*)[ \t]*")


@dataclass(frozen=True, slots=True)
class Reason:
    """
    One reason-value.

    @ivar protocol: C{"Q.850"}, C{"SIP"} or another token, as written.
    @ivar cause: the cause code, or C{None} when absent.
    @ivar text: the reason text, unquoted, or C{None}.
    @ivar params: any other (extension) parameters.
    """

    protocol: str
    cause: int | None = None
    text: str | None = None
    params: Params = EMPTY_PARAMS

    def __str__(self) -> str:
        parts = [self.protocol]
        if self.cause is not None:
            parts.append(f";cause={self.cause}")
        if self.text is not None:
            parts.append(f";text={quote_string(self.text)}")
        parts.append(str(self.params))
        return "".join(parts)


def q850(cause: int, text: str | None = None) -> Reason:
    """
    A Q.850 reason; the text defaults to the cause's standard name.
    """
    return Reason("Q.850", cause, text if text is not None else Q850_TEXTS.get(cause))


def parse_reason(value: str) -> Reason:
    """
    Parse one reason-value (a Reason header holding several is split first,
    see L{parse_reasons}).

    @raise SIPParseError: the value is malformed: not a token followed by
        parameters, a non-numeric cause, or an unquoted text.
    """
    value = value.strip(" \t")
    match = _REASON_RE.fullmatch(value)
    if match is None:
        raise SIPParseError(detail="malformed Reason")
    protocol, tail = match.group(1), value[match.end(1) :]
    cause = text = None
    others = []
    for name, param in parse_params(tail):
        key = name.lower()
        if key == "cause":
            if param is None or not (param.isascii() and param.isdigit()):
                raise SIPParseError(detail="malformed Reason cause")
            cause = int(param)
        elif key == "text":
            if param is None or not param.startswith('"'):
                raise SIPParseError(detail="Reason text must be a quoted-string")
            text = unquote_string(param)
        else:
            others.append((name, param))
    return Reason(protocol, cause, text, Params(others) if others else EMPTY_PARAMS)


def parse_reasons(message: Request | Response) -> list[Reason]:
    """
    Every reason-value of C{message}, in order (§2: at most one per
    protocol is meaningful, but all are returned).

    @raise SIPParseError: one of them is malformed.
    """
    return [parse_reason(value) for value in message.headers.get_all("Reason")]


def find_reason(message: Request | Response, protocol: str = "Q.850") -> Reason | None:
    """
    The first well-formed reason of C{protocol} (case-insensitive) in
    C{message}, or C{None}.  A malformed value is skipped, not fatal: a
    BYE is honoured whatever its Reason says.
    """
    wanted = protocol.lower()
    for value in message.headers.get_all("Reason"):
        try:
            reason = parse_reason(value)
        except SIPParseError:
            continue
        if reason.protocol.lower() == wanted:
            return reason
    return None
