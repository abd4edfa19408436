# -*- test-case-name: tests.service.test_callinfo -*-
"""
What the service says about a call, as plain JSON values.

Log events (read by C{twistd --logger} JSON observers), webhooks, recording
sidecars and C{/calls} all describe calls.  They read the documented C{Call}
members through this module so the four agree, and so nothing that
C{json.dumps} cannot write leaks into any of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from twisted.logger import Logger

_log = Logger()

#: Keys of L{describe}'s result, in the order operators read them.
IDENTITY_KEYS = (
    "session_id",
    "call_id",
    "room_id",
    "caller",
    "callee",
    "caller_display_name",
    "x_headers",
    "codec",
    "sample_rate",
)


def iso_time(seconds: float) -> str:
    """A POSIX time as an ISO 8601 UTC timestamp with milliseconds."""
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="milliseconds")


def json_value(value: Any) -> Any:
    """
    C{value} made safe for C{json.dumps}: mappings and sequences are copied,
    non-finite floats become C{None} (JSON has no NaN) and any other object
    becomes its C{str}.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)


def codec_name(call: Any) -> str:
    """The negotiated codec's encoding name (C{"PCMU"}, C{"G722"}, ...)."""
    codec = getattr(call, "codec", None)
    name = getattr(codec, "encoding_name", None)
    if isinstance(name, str):
        return name
    from_metadata = call.metadata.get("codec")
    if from_metadata is not None:
        return str(from_metadata)
    return "" if codec is None else str(codec)


def describe(call: Any) -> dict[str, Any]:
    """
    The identity of C{call}: who called whom, under which ids, with which codec.

    Read once when the call is answered; every value is JSON-able.
    """
    metadata = call.metadata
    return {
        "session_id": str(call.session_id),
        "call_id": str(call.call_id),
        "room_id": str(call.room_id),
        "caller": str(metadata.get("caller", "")),
        "callee": str(metadata.get("callee", "")),
        "caller_display_name": json_value(metadata.get("caller_display_name")),
        "x_headers": json_value(dict(metadata.get("x_headers") or {})),
        "codec": codec_name(call),
        "sample_rate": int(call.sample_rate),
    }


def call_stats(call: Any) -> dict[str, Any]:
    """
    C{call.stats()} as JSON values; C{{}} (and a logged failure) if it raises,
    because a statistics bug must not stop a call from being reported.
    """
    try:
        return json_value(dict(call.stats()))
    except Exception:
        _log.failure("stats() of call {session_id} failed", session_id=str(call.session_id))
        return {}


def hangup_reason(call: Any) -> tuple[str, dict[str, Any] | None]:
    """
    Why C{call} ended: the engine's C{disconnect_reason} (C{"unknown"} if it
    set none) and the RFC 3326 C{Reason} of a remote BYE, if any.
    """
    metadata = call.metadata
    reason = metadata.get("disconnect_reason") or "unknown"
    bye_reason = metadata.get("bye_reason")
    return str(reason), (json_value(dict(bye_reason)) if bye_reason else None)
