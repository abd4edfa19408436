# -*- test-case-name: tests.sip.test_parser -*-
"""
Parse errors that know the answer.

A UAS that cannot parse a request still owes the sender a response when it
can route one (RFC 3261 §8.2, §21.4.1), so the error carries the status to
send and, when the parser could read enough of the message, a best-effort
request from which that response is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roomkit_sip.sip.message import Request

#: Reason phrases for the statuses the parser itself produces (RFC 3261 §21).
_REASONS = {
    400: "Bad Request",
    413: "Request Entity Too Large",
    505: "Version Not Supported",
    513: "Message Too Large",
}


class SIPParseError(Exception):
    """
    A message, or one of its header fields, is not well-formed SIP.

    @ivar status: the status a UAS answers with (400 unless the defect has a
        more specific code, such as 505 for an unknown SIP version).
    @ivar reason: the reason phrase that goes with C{status}.
    @ivar detail: a short explanation naming the defect.  It never echoes the
        offending bytes, so it is safe to log or to put in a C{Warning}.
    @ivar partial: a best-effort L{Request} holding the Via, From, To, Call-ID
        and CSeq header fields that could be read, enough to build the error
        response; C{None} when nothing answerable was read (then drop the
        message: responses, ACKs and requests without a usable Via).
    """

    def __init__(
        self,
        status: int = 400,
        reason: str | None = None,
        detail: str = "",
        partial: Request | None = None,
    ) -> None:
        if reason is None:
            reason = _REASONS.get(status, "Bad Request")
        super().__init__(detail or reason)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.partial = partial

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.reason!r}, {self.detail!r})"


class SIPFramingError(SIPParseError):
    """
    A byte stream cannot be cut into messages any more (RFC 3261 §18.3).

    Raised by L{roomkit_sip.sip.framing.StreamFramer}: a missing or invalid
    Content-Length, or a message over the configured size limits.  The stream
    has lost its message boundaries, so the connection must be closed, after
    sending the answer built from C{partial} if there is one.
    """
