# -*- test-case-name: tests.engine.test_screening -*-
"""
What a UAS checks before it looks at what a request means (RFC 3261 §8.2),
as pure functions: the method (§8.2.1: 405 with Allow, or 501), the
Request-URI scheme (§8.2.2.1: 416), Require (§8.2.2.3: 420 with
Unsupported), and the body (§8.2.3: 415 with Accept/Accept-Encoding; and
406 when Accept excludes the only body type we answer with, §21.4.7).

Each check returns a L{Refusal} (status, reason, header fields) or C{None}.
The capability headers every answer advertises live here too, so OPTIONS,
405 and 2xx all say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.message import Request

__all__ = [
    "ACCEPT",
    "ALLOW",
    "KNOWN_METHODS",
    "SUPPORTED",
    "Refusal",
    "check_accept",
    "check_body",
    "check_method",
    "check_require",
    "check_scheme",
    "media_type",
]

#: Methods this UAS implements (§20.5 Allow).
ALLOW = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE")
#: Methods we know of but do not implement: 405 with Allow, not 501 (§8.2.1).
KNOWN_METHODS = frozenset(
    {"REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH"}
)
#: Option tags we support (§19.2): RFC 4028 session timers.
SUPPORTED = ("timer",)
#: Body types we accept: SDP in INVITE/UPDATE/ACK, DTMF in INFO.
SDP = "application/sdp"
INFO_TYPES = ("application/dtmf-relay", "application/dtmf")
ACCEPT = (SDP, *INFO_TYPES)
#: Methods whose body must be SDP when present (RFC 3264 §5, RFC 3311).
SDP_METHODS = frozenset({"INVITE", "UPDATE"})
#: Schemes a Request-URI may use here (tel: reaches gateways, RFC 3966).
SCHEMES = frozenset({"sip", "sips", "tel"})


@dataclass(frozen=True)
class Refusal:
    """A final answer to send instead of processing the request."""

    status: int
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


def check_method(request: Request) -> Refusal | None:
    """§8.2.1: 405 (with Allow) for a method we know, 501 for one we do not."""
    method = request.method
    if method in ALLOW:
        return None
    if method in KNOWN_METHODS:
        return Refusal(405, headers=(("Allow", ", ".join(ALLOW)),))
    return Refusal(501)


def check_scheme(request: Request) -> Refusal | None:
    """§8.2.2.1: 416 for a Request-URI scheme we cannot serve."""
    try:
        scheme = request.request_uri.scheme.lower()
    except SIPParseError:
        return Refusal(400, "Bad Request-URI")
    if scheme in SCHEMES:
        return None
    return Refusal(416)


def check_require(request: Request) -> Refusal | None:
    """
    §8.2.2.3: 420 with Unsupported listing every option tag of Require we
    do not support.  ACK and CANCEL are exempt (their answer, if any, cannot
    be negotiated); Proxy-Require is for proxies and ignored by a UA.
    """
    if request.method in ("ACK", "CANCEL"):
        return None
    unknown = [tag for tag in request.headers.get_all("Require") if tag.lower() not in SUPPORTED]
    if not unknown:
        return None
    return Refusal(420, headers=(("Unsupported", ", ".join(unknown)),))


def media_type(request: Request) -> str | None:
    """
    The body's media type (C{type/subtype}, lower case); C{None} without a
    body.  A body without Content-Type is taken as SDP, as most UAs do.

    @raise SIPParseError: a malformed Content-Type.
    """
    if not request.body:
        return None
    return request.content_type or SDP


def check_body(request: Request) -> Refusal | None:
    """
    §8.2.3: 415 for a body we cannot read: an encoding other than identity
    (answered with Accept-Encoding), or a type other than SDP in
    INVITE/UPDATE (with Accept).  INFO bodies are judged by the INFO
    handler.
    """
    encodings = [e.lower() for e in request.headers.get_all("Content-Encoding")]
    if any(e != "identity" for e in encodings):
        return Refusal(415, headers=(("Accept-Encoding", "identity"),))
    if request.method not in SDP_METHODS:
        return None
    try:
        kind = media_type(request)
    except SIPParseError:
        return Refusal(400, "Malformed Content-Type")
    if kind is None or kind == SDP:
        return None
    return Refusal(415, headers=(("Accept", SDP),))


def check_accept(request: Request) -> Refusal | None:
    """
    406 when the request's Accept rules out SDP, the only body an answer to
    an INVITE carries (§21.4.7; RFC 4475 §3.3.15).  An empty Accept accepts
    nothing; an absent one means C{application/sdp} (§20.1).
    """
    if request.method not in ("INVITE", "UPDATE") or "Accept" not in request.headers:
        return None
    for value in request.headers.get_all("Accept"):
        kind = value.split(";", 1)[0].strip().lower()
        if kind in (SDP, "application/*", "*/*"):
            return None
    return Refusal(406, headers=(("Accept", SDP),))
