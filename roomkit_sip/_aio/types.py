# -*- test-case-name: tests.aio.test_backend_types -*-
"""
The values the asyncio backend hands out when roomkit is not installed.

roomkit needs Python 3.12; a plain asyncio application on 3.11 (or one that
skipped the C{roomkit} extra) still gets sessions, audio frames and key
presses, as these small classes with the same field names, defaults and
checks as roomkit 0.109's.  L{roomkit_sip._aio.roomkit_types} picks
roomkit's own classes instead whenever roomkit imports, so an application
that later adds roomkit keeps working unchanged.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "AudioChunk",
    "AudioFrame",
    "DTMFEvent",
    "LocalVoiceBackend",
    "ProtocolTrace",
    "VoiceCapability",
    "VoiceSession",
    "VoiceSessionEndedError",
    "VoiceSessionState",
]


class VoiceSessionState(enum.StrEnum):
    """Where a session is in its life; C{ENDED} is final."""

    CONNECTING = "connecting"
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


class VoiceCapability(enum.Flag):
    """What a backend can do beyond sending and receiving audio."""

    NONE = 0
    INTERRUPTION = enum.auto()
    BARGE_IN = enum.auto()
    NATIVE_AEC = enum.auto()
    NATIVE_AGC = enum.auto()
    DTMF_INBAND = enum.auto()
    DTMF_SIGNALING = enum.auto()
    NATIVE_BRIDGE = enum.auto()


class VoiceSessionEndedError(RuntimeError):
    """A session that ended was asked to become live again."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class VoiceSession:
    """
    One call as the application sees it.

    Leaving C{ENDED} raises L{VoiceSessionEndedError}, so that a hung-up call
    can never look live again; a reconnecting caller gets a new session.
    """

    id: str
    room_id: str
    participant_id: str
    channel_id: str
    state: VoiceSessionState = VoiceSessionState.CONNECTING
    provider_session_id: str | None = None
    created_at: datetime = field(default_factory=_utcnow)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "state":
            current = self.__dict__.get("state")
            if current is VoiceSessionState.ENDED and value is not VoiceSessionState.ENDED:
                raise VoiceSessionEndedError(f"voice session {self.id} has ended")
        object.__setattr__(self, name, value)


@dataclass
class AudioFrame:
    """
    Inbound (or played) audio: 16-bit signed little-endian PCM by default.
    """

    data: bytes
    sample_rate: int = 16000
    channels: int = 1
    sample_width: int = 2
    timestamp_ms: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise ValueError("AudioFrame.data must be bytes")
        if not 0 < self.sample_rate <= 192_000:
            raise ValueError(f"sample_rate must be between 1 and 192000, got {self.sample_rate}")
        if self.channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {self.channels}")
        if self.sample_width not in (1, 2, 4):
            raise ValueError(f"sample_width must be 1, 2 or 4, got {self.sample_width}")
        if len(self.data) % (self.sample_width * self.channels):
            raise ValueError(
                f"data length {len(self.data)} is not a whole number of "
                f"{self.sample_width * self.channels}-byte samples"
            )


@dataclass
class AudioChunk:
    """A piece of outbound audio (a TTS stream is an async iterator of these)."""

    data: bytes
    sample_rate: int = 16000
    channels: int = 1
    format: str = "pcm_s16le"
    timestamp_ms: int | None = None
    is_final: bool = False


@dataclass
class DTMFEvent:
    """A key press; out-of-band digits are certain, hence C{confidence} 1."""

    digit: str
    duration_ms: float
    confidence: float = 1.0


@dataclass(frozen=True)
class ProtocolTrace:
    """One SIP message worth showing to whoever observes the backend."""

    channel_id: str
    direction: Literal["inbound", "outbound"]
    protocol: str
    summary: str
    raw: bytes | str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    timestamp: datetime = field(default_factory=_utcnow)
    session_id: str | None = None
    room_id: str | None = None


class LocalVoiceBackend:
    """
    Stand-in for roomkit's C{VoiceBackend} base class: the optional members
    that the SIP backend inherits without overriding, with the same
    do-nothing defaults, so the API is the same with or without roomkit.
    """

    @property
    def auto_connect(self) -> bool:
        """A SIP backend waits for callers; nothing connects by itself."""
        return False

    @property
    def feeds_aec_reference(self) -> bool:
        return False

    @property
    def audio_received_callback(self) -> Callable[..., Any] | None:
        return getattr(self, "_audio_received_callback", None)

    def interrupt(self, session: VoiceSession) -> None:
        """Playback is stopped with C{cancel_audio}; this is a no-op here."""

    def set_input_muted(self, session: VoiceSession, muted: bool) -> None:
        pass

    def set_input_gated(self, session: VoiceSession, gated: bool) -> None:
        pass

    def on_speaker_change(self, callback: Callable[..., Any]) -> None:
        pass

    def on_aec_tap(self, callback: Callable[..., Any]) -> None:
        return None

    async def accept(self, session: VoiceSession, connection: Any) -> None:
        raise NotImplementedError("SIP does not implement accept()")
