# -*- test-case-name: tests.aio.test_backend_trace -*-
"""
C{ProtocolTrace}s for the SIP messages that shape a call.

Every VoiceChannel registered on a kit installs a trace emitter (contract
§1), and the app's C{ON_PROTOCOL_TRACE} hooks see what arrives there: the
INVITE, our 200 OK, re-INVITEs, and the BYE from either side, with the same
summaries as roomkit's backend (contract §3.7).  A trace carries the
message verbatim, so the digest C{response} of an authenticated INVITE is
masked first: beside the username, realm and nonce it would allow an
offline dictionary attack on the password.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from roomkit_sip._aio.callbacks import CallbackRunner
from roomkit_sip._aio.roomkit_types import ProtocolTrace

__all__ = ["TraceEmitter", "redact_digest"]

# response="<hex>" (RFC 7616 quotes it) or response=<token> from sloppy clients.
_RESPONSE = re.compile(rb'(\bresponse\s*=\s*)(?:"[^"]*"|[^\s,;"]+)', re.IGNORECASE)


def redact_digest(raw: bytes | str | None) -> bytes | str | None:
    """
    Mask every digest C{response} parameter of a serialised SIP message,
    leaving the rest (username, realm, nonce, uri) for debugging.
    """
    if raw is None:
        return None
    if isinstance(raw, str):
        return _RESPONSE.sub(rb'\1"<redacted>"', raw.encode("utf-8", "surrogateescape")).decode(
            "utf-8", "surrogateescape"
        )
    return _RESPONSE.sub(rb'\1"<redacted>"', bytes(raw))


class TraceEmitter:
    """
    Builds the traces and hands them to the emitter the channel installed,
    through the callback runner (an emitter that fails is logged, never
    allowed to break the call).
    """

    def __init__(self) -> None:
        self.emitter: Callable[..., Any] | None = None
        self.runner: CallbackRunner | None = None

    @property
    def active(self) -> bool:
        """Whether traces are wanted: building one costs a serialisation."""
        return self.emitter is not None and self.runner is not None

    def _emit(
        self,
        session: Any,
        direction: Literal["inbound", "outbound"],
        summary: str,
        raw: bytes | str | None,
        metadata: dict[str, Any],
        *,
        channel_id: str | None = None,
        room_id: str | None = None,
    ) -> None:
        if self.emitter is None or self.runner is None:
            return
        trace = ProtocolTrace(
            channel_id=channel_id if channel_id is not None else session.channel_id,
            direction=direction,
            protocol="sip",
            summary=summary,
            raw=redact_digest(raw),
            metadata=metadata,
            session_id=session.id if session is not None else None,
            room_id=room_id if session is None else session.metadata.get("room_id"),
        )
        self.runner.call_user(self.emitter, trace)

    def invite(self, session: Any, raw: bytes | None) -> None:
        """The INVITE that created C{session} (with its raw bytes if kept)."""
        meta = session.metadata
        self._emit(
            session,
            "inbound",
            f"INVITE from {meta.get('caller')} to {meta.get('callee')}",
            raw,
            {
                "call_id": meta.get("call_id"),
                "caller": meta.get("caller"),
                "callee": meta.get("callee"),
                "x_headers": dict(meta.get("x_headers") or {}),
            },
        )

    def answered(
        self,
        session: Any,
        codec_rate: int,
        clock_rate: int,
        sdp: bytes | str | None,
        direction: Literal["inbound", "outbound"] = "outbound",
    ) -> None:
        """The 200 OK: ours to an INVITE (outbound), or the callee's to a dial."""
        self._emit(
            session,
            direction,
            f"200 OK (codec={codec_rate}Hz, rtp_clock={clock_rate}Hz)",
            sdp,
            {
                "call_id": session.metadata.get("call_id"),
                "codec_sample_rate": codec_rate,
                "clock_rate": clock_rate,
            },
        )

    def remote_bye(self, session: Any) -> None:
        """The caller hung up; C{bye_reason} is in the metadata if they said why."""
        meta = session.metadata
        extra = {"bye_reason": meta["bye_reason"]} if "bye_reason" in meta else {}
        self._emit(
            session,
            "inbound",
            f"BYE from {meta.get('caller')}",
            None,
            {"call_id": meta.get("call_id"), **extra},
        )

    def local_bye(self, session: Any) -> None:
        """We hung up (C{disconnect()} or C{close()})."""
        self._emit(
            session,
            "outbound",
            "BYE (local hangup)",
            None,
            {"call_id": session.metadata.get("call_id")},
        )

    def dialling(self, channel_id: str, room_id: str | None, from_uri: str, to_uri: str) -> None:
        """An outbound INVITE is about to leave (its Call-ID is not known yet)."""
        self._emit(
            None,
            "outbound",
            f"INVITE from {from_uri} to {to_uri}",
            None,
            {"from_uri": from_uri, "to_uri": to_uri},
            channel_id=channel_id,
            room_id=room_id,
        )
