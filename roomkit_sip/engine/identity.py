# -*- test-case-name: tests.engine.test_identity -*-
"""
Who a call is, by roomkit's rules (C{docs/engine.md}, "Identity"), and the
metadata dict applications read.

  - C{session_id = X-Session-ID or Call-ID}
  - C{room_id = X-Room-ID or Call-ID}
  - C{participant_id = X-Session-ID or the caller's URI}

Everything here is plain data: metadata flows into roomkit's stored events,
so it holds only JSON-able values (strings, numbers, dicts of strings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from roomkit_sip.sip.message import Request
from roomkit_sip.sip.uri import SipURI, TelURI

__all__ = ["Identity", "call_metadata", "x_headers"]

ROOM_HEADER = "X-Room-ID"
SESSION_HEADER = "X-Session-ID"


def x_headers(request: Request) -> dict[str, str]:
    """C{{name: first value}} of every C{X-*} header field, names as received."""
    found: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in request.headers.items():
        key = name.lower()
        if key.startswith("x-") and key not in seen:
            seen.add(key)
            found[name] = value
    return found


def _lookup(headers: dict[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted and value.strip():
            return value.strip()
    return None


def uri_user(uri: object) -> str:
    """The user part of a SIP URI, the number of a TEL URI, else C{""}."""
    if isinstance(uri, SipURI):
        return uri.user or ""
    if isinstance(uri, TelURI):
        return uri.number
    return ""


@dataclass(frozen=True)
class Identity:
    """
    The identity of an inbound call, read from its INVITE.

    @ivar caller: the From URI as text; C{callee}: the To URI.
    @ivar x_headers: see L{x_headers}.
    """

    call_id: str
    session_id: str
    room_id: str
    participant_id: str
    caller: str
    callee: str
    caller_display_name: str
    caller_user: str
    x_headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, invite: Request) -> Identity:
        """
        @raise roomkit_sip.sip.SIPParseError: a malformed From or To (the
            parser already checked them, so only for hand-built requests).
        """
        headers = x_headers(invite)
        call_id = invite.call_id
        caller = invite.from_
        session = _lookup(headers, SESSION_HEADER)
        return cls(
            call_id=call_id,
            session_id=session or call_id,
            room_id=_lookup(headers, ROOM_HEADER) or call_id,
            participant_id=session or str(caller.uri),
            caller=str(caller.uri),
            callee=str(invite.to.uri),
            caller_display_name=caller.display_name or "",
            caller_user=uri_user(caller.uri),
            x_headers=headers,
        )


def call_metadata(identity: Identity, codec: Any, direction: str = "inbound") -> dict[str, Any]:
    """
    The metadata of a call once its codec is known (roomkit's keys, plus
    C{codec}, C{rtp_clock_rate} and C{direction}).

    @param codec: the negotiated L{roomkit_sip.interfaces.ICodec}.
    """
    rate = int(codec.sample_rate)
    return {
        "backend": "sip",
        "call_id": identity.call_id,
        "caller": identity.caller,
        "callee": identity.callee,
        "caller_display_name": identity.caller_display_name,
        "caller_user": identity.caller_user,
        "room_id": identity.room_id,
        "session_id": identity.session_id,
        "x_headers": dict(identity.x_headers),
        "input_sample_rate": rate,
        "output_sample_rate": rate,
        "codec_sample_rate": rate,
        "codec": str(codec.encoding_name),
        "rtp_clock_rate": int(codec.clock_rate),
        "direction": direction,
    }


def codec_metadata(codec: Any) -> dict[str, Any]:
    """The metadata keys that change with a mid-call codec change."""
    rate = int(codec.sample_rate)
    return {
        "input_sample_rate": rate,
        "output_sample_rate": rate,
        "codec_sample_rate": rate,
        "codec": str(codec.encoding_name),
        "rtp_clock_rate": int(codec.clock_rate),
    }
