"""Small value objects the engine hands to call handlers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DTMFEvent:
    """
    One key press.

    @ivar digit: C{0}-C{9}, C{*}, C{#}, C{A}-C{D}, or C{!} for flash.
    @ivar duration_ms: how long the key was held, as the peer reported it.
    @ivar source: C{"rfc4733"} (telephone-event RTP) or C{"info"} (SIP INFO).
    """

    digit: str
    duration_ms: float
    source: str = "rfc4733"


@dataclass(frozen=True, slots=True)
class PlayedFrame:
    """
    A frame that actually went out as RTP: what the caller heard.

    @ivar pcm: the PCM of the frame (silence fill and padding included).
    @ivar rtp_timestamp: its RTP timestamp.
    @ivar played_bytes: bytes of application audio in it (0 for silence fill).
    @ivar queued_ms: application audio still queued behind this frame.
    @ivar ended: C{True} on the final report of a response (drained or
        interrupted); such a report carries no PCM.
    """

    pcm: bytes
    rtp_timestamp: int
    played_bytes: int
    queued_ms: float
    ended: bool = False
