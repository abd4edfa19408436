# -*- test-case-name: tests.sip.test_session_timer -*-
"""
Session timers (RFC 4028): the header logic, without the timers themselves.

  Session-Expires  = ("Session-Expires" / "x") HCOLON delta-seconds
                     *(SEMI se-params)
  se-params        = refresher-param / generic-param
  refresher-param  = "refresher" EQUAL  ("uas" / "uac")
  Min-SE           = "Min-SE" HCOLON delta-seconds *(SEMI generic-param)

The refresher is named relative to the transaction that negotiated it
(C{uac} is whoever sent that INVITE or UPDATE), so the outcome of a
negotiation is expressed from our side: L{SessionTimer.we_refresh}.  The
engine arms one timer per call at L{SessionTimer.deadline}: a refresh at
half the interval when we refresh (§10), a BYE at
C{interval - min(32, interval / 3)} when the peer does and is late (§10).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from roomkit_sip.sip import _grammar as g
from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.fields import parse_params
from roomkit_sip.sip.message import Request, Response

#: The smallest session interval anyone may ask for (§4, §5).
ABSOLUTE_MIN_SE = 90

_DELTA_RE = re.compile(rf"([0-9]{{1,10}})((?:{g.GENERIC_PARAM})*)[ \t]*")

Headers = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class SessionExpires:
    """
    A Session-Expires value (§4).

    @ivar interval: the session interval, in seconds.
    @ivar refresher: C{"uac"}, C{"uas"}, or C{None} when not given.
    """

    interval: int
    refresher: str | None = None

    def __str__(self) -> str:
        refresher = "" if self.refresher is None else f";refresher={self.refresher}"
        return f"{self.interval}{refresher}"


@dataclass(frozen=True, slots=True)
class SessionTimer:
    """
    A session timer in force, seen from our side.

    @ivar interval: the negotiated session interval, in seconds.
    @ivar we_refresh: we send the refreshes; otherwise we expect them.
    """

    interval: int
    we_refresh: bool

    @property
    def refresh_after(self) -> float:
        """When the refresher refreshes: half the interval (§10, RECOMMENDED)."""
        return self.interval / 2

    @property
    def expire_after(self) -> float:
        """When the other side gives up and sends BYE (§10)."""
        return self.interval - min(32, self.interval / 3)

    @property
    def deadline(self) -> float:
        """Seconds after the last refresh when we must act, whichever our role."""
        return self.refresh_after if self.we_refresh else self.expire_after


@dataclass(frozen=True, slots=True)
class TooSmall:
    """
    The request asks for less than our minimum: answer 422 with C{headers}
    (a Min-SE, §6, §9).
    """

    min_se: int

    @property
    def headers(self) -> Headers:
        return [("Min-SE", str(self.min_se))]


@dataclass(frozen=True, slots=True)
class Negotiated:
    """
    The session timer of a 2xx answer: C{timer} (C{None}: no session
    timer) and the header fields the 2xx must carry (§9).
    """

    timer: SessionTimer | None
    headers: Headers


def _delta(value: str, what: str) -> tuple[int, str]:
    value = value.strip(" \t")
    match = _DELTA_RE.fullmatch(value)
    if match is None:
        raise SIPParseError(detail=f"malformed {what}")
    return int(match.group(1)), value[match.end(1) :]


def parse_session_expires(value: str) -> SessionExpires:
    """
    Parse a Session-Expires value.

    @raise SIPParseError: not delta-seconds with parameters, or a refresher
        other than C{uac}/C{uas}.
    """
    interval, tail = _delta(value, "Session-Expires")
    refresher = parse_params(tail).get("refresher")
    if refresher is not None:
        refresher = refresher.lower()
        if refresher not in ("uac", "uas"):
            raise SIPParseError(detail="Session-Expires refresher must be uac or uas")
    elif "refresher" in parse_params(tail):
        raise SIPParseError(detail="Session-Expires refresher without a value")
    return SessionExpires(interval, refresher)


def parse_min_se(value: str) -> int:
    """
    Parse a Min-SE value (§5), ignoring its generic parameters.

    @raise SIPParseError: not delta-seconds.
    """
    interval, tail = _delta(value, "Min-SE")
    parse_params(tail)
    return interval


def session_expires_of(message: Request | Response) -> SessionExpires | None:
    """The Session-Expires of C{message}, or C{None} when absent."""
    value = message.headers.get("Session-Expires")
    return None if value is None else parse_session_expires(value)


def min_se_of(message: Request | Response) -> int | None:
    """The Min-SE of C{message}, or C{None} when absent."""
    value = message.headers.get("Min-SE")
    return None if value is None else parse_min_se(value)


def supports_timer(message: Request | Response) -> bool:
    """Whether C{message} lists the C{timer} option tag in Supported or Require."""
    tags = message.headers.get_all("Supported") + message.headers.get_all("Require")
    return any(tag.lower() == "timer" for tag in tags)


def uas_negotiate(
    request: Request,
    *,
    min_se: int = ABSOLUTE_MIN_SE,
    session_expires: int | None = 1800,
    refresher: str = "uac",
) -> TooSmall | Negotiated:
    """
    Decide the session timer of a 2xx to an INVITE or UPDATE (§9).

    @param min_se: our minimum interval (raised to 90 if lower).
    @param session_expires: the interval we would like, or C{None} to start
        no timer ourselves (one the request asks for is still honoured).
    @param refresher: who refreshes when the UAC supports timers and left
        the choice to us (C{"uac"} or C{"uas"}).
    @return: L{TooSmall} (answer 422) or L{Negotiated}.
    @raise SIPParseError: a malformed Session-Expires or Min-SE.
    """
    local_min = max(min_se, ABSOLUTE_MIN_SE)
    asked = session_expires_of(request)
    floor = max(min_se_of(request) or 0, ABSOLUTE_MIN_SE)
    supported = supports_timer(request)
    if asked is not None:
        if supported and asked.interval < local_min:
            return TooSmall(local_min)
        # We may lower the interval towards our preference, never below the
        # request's Min-SE (or 90), and never raise it.
        preferred = asked.interval if session_expires is None else session_expires
        interval = min(asked.interval, max(preferred, floor))
    elif session_expires is not None:
        interval = max(session_expires, floor, local_min)
    else:
        return Negotiated(None, [])
    if not supported:
        chosen = "uas"  # the UAC cannot refresh (§9 table)
    elif asked is not None and asked.refresher is not None:
        chosen = asked.refresher
    else:
        chosen = refresher
    headers = [("Session-Expires", str(SessionExpires(interval, chosen)))]
    if supported:
        # Required for uac (it must know to refresh), recommended for uas
        # (it must know to send BYE when the refreshes stop) (§9).
        headers.append(("Require", "timer"))
    return Negotiated(SessionTimer(interval, we_refresh=chosen == "uas"), headers)


def uac_request_headers(
    session_expires: int, *, min_se: int | None = None, refresher: str | None = None
) -> Headers:
    """
    The header fields of an INVITE or UPDATE asking for a session timer
    (§7.1): Supported: timer, Session-Expires and, after a 422, Min-SE.

    @raise ValueError: an interval below Min-SE or 90 seconds.
    """
    if session_expires < max(min_se or 0, ABSOLUTE_MIN_SE):
        raise ValueError("Session-Expires must be at least Min-SE and 90 seconds")
    headers = [
        ("Supported", "timer"),
        ("Session-Expires", str(SessionExpires(session_expires, refresher))),
    ]
    if min_se is not None:
        headers.append(("Min-SE", str(min_se)))
    return headers


def uac_negotiated(response: Response, requested: int | None) -> SessionTimer | None:
    """
    The session timer a 2xx established (§7.2).

    @param requested: the Session-Expires we sent, or C{None}.
    @return: the timer the response sets (refresher C{uac} when it names
        none); without Session-Expires in the response, a timer we refresh
        at our own interval if we asked for one (the UAS does not support the
        extension), else C{None}: no session expiration.
    """
    agreed = session_expires_of(response)
    if agreed is not None:
        return SessionTimer(agreed.interval, we_refresh=agreed.refresher != "uas")
    if requested is not None:
        return SessionTimer(requested, we_refresh=True)
    return None


def uac_retry_after_422(
    response: Response, session_expires: int, min_se: int | None = None
) -> tuple[int, int] | None:
    """
    The C{(Session-Expires, Min-SE)} to retry with after a 422 (§7.4):
    Min-SE is the largest seen, the interval at least that.

    @return: C{None} when the 422 has no usable Min-SE or asks for no more
        than we sent (retrying would loop).
    """
    try:
        demanded = min_se_of(response)
    except SIPParseError:
        return None
    if demanded is None or demanded <= session_expires:
        return None
    new_min = max(demanded, min_se or 0, ABSOLUTE_MIN_SE)
    return max(session_expires, new_min), new_min
