# -*- test-case-name: tests.engine.test_info_dtmf -*-
"""
Key presses carried in SIP INFO bodies (sans-IO), the legacy alternative to
RFC 4733 that PBXs still send:

  - C{application/dtmf-relay} (Cisco's, used by Asterisk, FreeSWITCH...)::

        Signal=5
        Duration=160

  - C{application/dtmf}: the key alone (C{5}), or its RFC 4733 event code
    (C{11} for C{#}).

Both map to the same digit alphabet as telephone-events: C{0}-C{9}, C{*},
C{#}, C{A}-C{D}, and C{!} for a hook flash (event 16).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DTMF_TYPES", "InfoDTMF", "InfoDTMFError", "parse_info_dtmf", "relay_body"]

DTMF_RELAY = "application/dtmf-relay"
DTMF = "application/dtmf"
DTMF_TYPES = (DTMF_RELAY, DTMF)

# RFC 4733 §3.2 event codes 0-16.
_EVENT_DIGITS = "0123456789*#ABCD!"
#: A Duration longer than this (ms) is not believed.
_MAX_DURATION_MS = 60_000


class InfoDTMFError(ValueError):
    """A DTMF body that names no key: the INFO is answered 400."""


@dataclass(frozen=True)
class InfoDTMF:
    """
    One key press from an INFO.

    @ivar duration_ms: as the body said it, C{0.0} when it said nothing.
    """

    digit: str
    duration_ms: float


def _digit(text: str) -> str:
    value = text.strip().upper()
    if value.isdigit() and len(value) <= 2:
        code = int(value)
        if code < len(_EVENT_DIGITS):
            return _EVENT_DIGITS[code]
    if len(value) == 1 and value in _EVENT_DIGITS and value != "!":
        return value
    if value in ("FLASH", "HF"):
        return "!"
    raise InfoDTMFError(f"not a DTMF key: {text.strip()[:16]!r}")


def _duration(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise InfoDTMFError("malformed Duration") from None
    if not 0 <= value <= _MAX_DURATION_MS:
        raise InfoDTMFError("Duration out of range")
    return value


def parse_info_dtmf(media_type: str, body: bytes) -> InfoDTMF:
    """
    The key press of an INFO body of type C{media_type}.

    @raise InfoDTMFError: the body names no key.
    @raise ValueError: C{media_type} is not one of L{DTMF_TYPES}.
    """
    text = body.decode("utf-8", "replace")
    if media_type == DTMF:
        return InfoDTMF(_digit(text), 0.0)
    if media_type != DTMF_RELAY:
        raise ValueError(f"not a DTMF body type: {media_type}")
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            fields.setdefault(name.strip().lower(), value)
    if "signal" not in fields:
        raise InfoDTMFError("no Signal in a dtmf-relay body")
    duration = _duration(fields["duration"]) if "duration" in fields else 0.0
    return InfoDTMF(_digit(fields["signal"]), duration)


def relay_body(digit: str, duration_ms: float) -> bytes:
    """An C{application/dtmf-relay} body, to send a key press by INFO."""
    key = digit.upper()
    if len(key) != 1 or key not in _EVENT_DIGITS or key == "!":
        raise ValueError(f"not a DTMF key: {digit!r}")
    return f"Signal={key}\r\nDuration={int(duration_ms)}\r\n".encode("ascii")
