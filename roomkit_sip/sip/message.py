# -*- test-case-name: tests.sip.test_message -*-
"""
L{Request} and L{Response}, their serialisation, and L{make_response}.

Messages are dataclasses compared by value.  Header fields stay text in
L{Headers}; the typed accessors parse them on first use and cache the result
until the headers change.  Content-Length is never stored: L{serialize}
writes the length of the body.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from roomkit_sip.sip import _grammar as g
from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.fields import (
    CSeq,
    Via,
    parse_call_id,
    parse_cseq,
    parse_max_forwards,
    parse_media_type,
    parse_via_list,
)
from roomkit_sip.sip.headers import Headers, split_list
from roomkit_sip.sip.uri import URI, Address, parse_address, parse_uri

_T = TypeVar("_T")

# RFC 3261 §21 and later registrations: the default reason phrases.
REASON_PHRASES = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 199: "Early Dialog Terminated", 200: "OK", 202: "Accepted",
    204: "No Notification", 300: "Multiple Choices", 301: "Moved Permanently",
    302: "Moved Temporarily", 305: "Use Proxy", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    412: "Conditional Request Failed", 413: "Request Entity Too Large",
    414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 417: "Unknown Resource-Priority", 420: "Bad Extension",
    421: "Extension Required", 422: "Session Interval Too Small", 423: "Interval Too Brief",
    428: "Use Identity Header", 429: "Provide Referrer Identity", 433: "Anonymity Disallowed",
    436: "Bad Identity-Info", 437: "Unsupported Certificate", 438: "Invalid Identity Header",
    439: "First Hop Lacks Outbound Support", 440: "Max-Breadth Exceeded",
    469: "Bad Info Package", 470: "Consent Needed", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending",
    493: "Undecipherable", 494: "Security Agreement Required", 500: "Server Internal Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Server Time-out", 505: "Version Not Supported", 513: "Message Too Large",
    555: "Push Notification Service Not Supported", 580: "Precondition Failure",
    600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable", 607: "Unwanted", 608: "Rejected",
}  # fmt: skip

# Method = INVITEm / ACKm / ... / extension-method ; extension-method = token
_METHOD_RE = g.token_re
# Request-URI text: no whitespace or control characters (it is parsed apart).
_URI_TEXT_RE = re.compile(r"[!-~\x80-\U0010ffff]+")


def _single(name: str, rows: list[str]) -> str:
    """
    The one value of a header field that must appear exactly once.
    """
    if not rows:
        raise SIPParseError(detail=f"missing {name} header field")
    if len(rows) > 1:
        raise SIPParseError(detail=f"more than one {name} header field")
    return rows[0]


def _typed_field(name: str, rows: list[str], parse: Callable[[str], _T]) -> _T:
    value = _single(name, rows)
    try:
        return parse(value)
    except SIPParseError as e:
        raise SIPParseError(detail=f"{name}: {e.detail}") from None


def _vias(rows: list[str]) -> tuple[Via, ...]:
    if not rows:
        raise SIPParseError(detail="missing Via header field")
    try:
        return tuple(via for row in rows for via in parse_via_list(row))
    except SIPParseError as e:
        raise SIPParseError(detail=f"Via: {e.detail}") from None


def _contacts(rows: list[str]) -> tuple[Address, ...]:
    # Contact: ("*" / (contact-param *(COMMA contact-param))) (§20.10); the
    # STAR form, only meaningful in REGISTER (§10.2.2), yields no address.
    if len(rows) == 1 and rows[0] == "*":
        return ()
    try:
        return tuple(parse_address(part) for row in rows for part in split_list(row))
    except SIPParseError as e:
        raise SIPParseError(detail=f"Contact: {e.detail}") from None


def _required(name: str, parse: Callable[[str], _T]) -> Callable[[list[str]], _T]:
    def typed(rows: list[str]) -> _T:
        return _typed_field(name, rows, parse)

    return typed


def _optional(name: str, parse: Callable[[str], _T]) -> Callable[[list[str]], _T | None]:
    def typed(rows: list[str]) -> _T | None:
        return None if not rows else _typed_field(name, rows, parse)

    return typed


_call_id = _required("Call-ID", parse_call_id)
_cseq = _required("CSeq", parse_cseq)
_from = _required("From", parse_address)
_to = _required("To", parse_address)
_max_forwards = _optional("Max-Forwards", parse_max_forwards)
_content_type = _optional("Content-Type", parse_media_type)


class _Message:
    """
    The typed accessors shared by requests and responses.  Each parses its
    header field on first use (raising L{SIPParseError} with status 400 when
    it is malformed, missing or, for single-valued fields, repeated) and
    caches the result in the L{Headers} until they change.
    """

    __slots__ = ()
    headers: Headers
    body: bytes

    @property
    def call_id(self) -> str:
        """The Call-ID (§20.8)."""
        return self.headers._typed("call-id", _call_id)

    @property
    def cseq(self) -> CSeq:
        """The CSeq (§20.16)."""
        return self.headers._typed("cseq", _cseq)

    @property
    def vias(self) -> list[Via]:
        """Every Via, top first (§20.42)."""
        return list(self.headers._typed("via", _vias))

    @property
    def top_via(self) -> Via:
        """The first Via: the transaction's branch and the response route."""
        return self.headers._typed("via", _vias)[0]

    @property
    def from_(self) -> Address:
        """The From address (§20.20)."""
        return self.headers._typed("from", _from)

    @property
    def to(self) -> Address:
        """The To address (§20.39)."""
        return self.headers._typed("to", _to)

    @property
    def contacts(self) -> list[Address]:
        """Every Contact address (§20.10); empty for none or C{*}."""
        return list(self.headers._typed("contact", _contacts))

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards (§20.22), C{None} when absent."""
        return self.headers._typed("max-forwards", _max_forwards)

    @property
    def content_type(self) -> str | None:
        """The body's media type as C{type/subtype} in lower case, or C{None}."""
        return self.headers._typed("content-type", _content_type)

    def __bytes__(self) -> bytes:
        return serialize(self)  # type: ignore[arg-type]


@dataclass(slots=True)
class Request(_Message):
    """
    A SIP request (§7.1).

    @ivar method: the method, case-sensitive (§7.1).
    @ivar uri: the Request-URI as text (a URI object given here is written
        out); L{request_uri} parses it.
    """

    method: str
    uri: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    _uri_cache: tuple[str, URI] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            self.headers = Headers(self.headers)
        if not isinstance(self.uri, str):
            self.uri = str(self.uri)

    @property
    def request_uri(self) -> URI:
        """
        The parsed Request-URI (L{SipURI}, L{TelURI} or L{AbsoluteURI}).

        @raise SIPParseError: the URI is malformed.
        """
        cache = self._uri_cache
        if cache is None or cache[0] is not self.uri:
            cache = self._uri_cache = (self.uri, parse_uri(self.uri))
        return cache[1]

    def copy(self) -> Request:
        """A copy with its own L{Headers}."""
        return Request(self.method, self.uri, self.headers.copy(), self.body)


@dataclass(slots=True)
class Response(_Message):
    """
    A SIP response (§7.2).
    """

    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            self.headers = Headers(self.headers)

    def copy(self) -> Response:
        """A copy with its own L{Headers}."""
        return Response(self.status, self.reason, self.headers.copy(), self.body)


def serialize(message: Request | Response) -> bytes:
    """
    The wire form of C{message}, with a Content-Length equal to the body's
    length (mandatory on streams, §18.3, and always correct on datagrams).

    @raise ValueError: the start line cannot be written: a method that is not
        a token, a Request-URI with whitespace, a status outside 100-699 or a
        reason phrase with CR or LF.
    """
    if isinstance(message, Request):
        if not _METHOD_RE.fullmatch(message.method):
            raise ValueError(f"method is not a token: {message.method!r}")
        if not _URI_TEXT_RE.fullmatch(message.uri):
            raise ValueError(f"malformed Request-URI: {message.uri!r}")
        lines = [f"{message.method} {message.uri} SIP/2.0"]
    else:
        reason = message.reason
        if not 100 <= message.status <= 699 or "\r" in reason or "\n" in reason:
            raise ValueError(f"cannot write status line {message.status} {reason!r}")
        lines = [f"SIP/2.0 {message.status} {reason}"]
    lines += [f"{name}: {value}" for _, name, value in message.headers._fields]
    body = message.body
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape") + body


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, object]] = (),
    body: bytes = b"",
) -> Response:
    """
    Build a response to C{request} per RFC 3261 §8.2.6.

    Via (every one, in order), From, To, Call-ID and CSeq are copied as
    written (§8.2.6.2); C{to_tag} is added to To when the request's To has no
    tag.  A 100 (Trying) copies the request's Timestamp (§8.2.6.1).  Works on
    the partial request of a L{SIPParseError}, which may lack some of them.

    @param reason: the reason phrase; the §21 default for C{status} if C{None}.
    @param headers: extra header fields, appended in order.
    """
    if not 100 <= status <= 699:
        raise ValueError(f"status out of range: {status}")
    if reason is None:
        reason = REASON_PHRASES.get(status) or REASON_PHRASES[status // 100 * 100]
    fields = []
    for item in request.headers._fields:
        key = item[0]
        if key in ("via", "from", "call-id", "cseq") or (key == "timestamp" and status == 100):
            fields.append(item)
        elif key == "to":
            if to_tag is not None and request.to.tag is None:
                item = ("to", "To", str(request.to.with_tag(to_tag)))
            fields.append(item)
    response = Response(status, reason, Headers._trusted(fields), body)
    for name, value in headers:
        response.headers.add(name, value)
    return response
