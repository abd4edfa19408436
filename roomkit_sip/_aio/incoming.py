# -*- test-case-name: tests.aio.test_backend_admission -*-
"""
What an invite filter sees of a call: L{InviteView}.

roomkit hands its filter aiosipua's C{IncomingCall} (contract §6.2); the
part filters use is read-only (who calls whom, the routing X-headers, where
the INVITE came from, the offer) plus C{reject(status, reason)}.  This is
that part, over the engine's C{IncomingCall}, without its answering
methods: answering is the backend's job, and a filter that could answer
would race it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["InviteView"]


class InviteView:
    """
    A read-only view of one inbound INVITE, for C{set_invite_filter}.

    @ivar call_id: the SIP Call-ID.
    @ivar caller: the From URI.
    @ivar callee: the To URI.
    @ivar caller_display_name: the From display name, or C{None}.
    @ivar room_id: the C{X-Room-ID} header, or C{None}.
    @ivar session_id: the C{X-Session-ID} header, or C{None}.
    @ivar x_headers: every C{X-*} header, first value each (read-only).
    @ivar source_addr: C{(host, port)} the INVITE came from.
    @ivar sdp_offer: the SDP offer text, or C{None} (late offer).
    @ivar request: the parsed INVITE (L{roomkit_sip.sip.Request}).
    """

    __slots__ = (
        "_rejection",
        "call_id",
        "callee",
        "caller",
        "caller_display_name",
        "request",
        "room_id",
        "sdp_offer",
        "session_id",
        "source_addr",
        "x_headers",
    )

    call_id: str
    caller: str
    callee: str
    caller_display_name: str | None
    room_id: str | None
    session_id: str | None
    x_headers: Mapping[str, str]
    source_addr: tuple[str, int]
    sdp_offer: str | None
    request: Any
    _rejection: tuple[int, str] | None

    def __init__(self, incoming: Any) -> None:
        """
        @param incoming: the engine's C{IncomingCall}.
        """
        headers: Mapping[str, str] = incoming.x_headers or {}
        values = {
            "call_id": incoming.call_id,
            "caller": incoming.caller,
            "callee": incoming.callee,
            "caller_display_name": getattr(incoming, "caller_display_name", None),
            "room_id": incoming.room_id,
            "session_id": incoming.session_id,
            "x_headers": MappingProxyType(dict(headers)),
            "source_addr": tuple(incoming.source_addr),
            "sdp_offer": incoming.sdp_offer,
            "request": getattr(incoming, "request", None),
            "_rejection": None,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"the call given to an invite filter is read-only ({name})")

    @property
    def invite(self) -> Any:
        """The parsed INVITE, under aiosipua's name for it."""
        return self.request

    def get_header(self, name: str) -> str | None:
        """The first value of header C{name} of the INVITE, or C{None}."""
        if self.request is None:
            return None
        value: str | None = self.request.headers.get(name)
        return value

    def reject(self, status: int, reason: str = "") -> None:
        """
        Refuse the call with C{status} (3xx-6xx), the same as returning
        C{(status, reason)} from the filter.  The first rejection wins.

        @raise ValueError: for a status that is not a final failure.
        """
        if type(status) is not int or not 300 <= status <= 699:
            raise ValueError(f"a rejection needs a 3xx-6xx status, not {status!r}")
        if self._rejection is None:
            object.__setattr__(self, "_rejection", (status, reason))

    @property
    def rejection(self) -> tuple[int, str] | None:
        """C{(status, reason)} if the filter called L{reject}."""
        return self._rejection

    def __repr__(self) -> str:
        return f"<InviteView {self.call_id} from {self.caller} to {self.callee}>"
