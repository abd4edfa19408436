# -*- test-case-name: tests.aio.test_backend_types -*-
"""
roomkit's own types when roomkit is installed, the package's otherwise.

A VoiceChannel checks what it is given: it needs a C{VoiceBackend}
subclass, roomkit's C{VoiceSession} (whose state guard and fields it relies
on), C{AudioFrame} and C{DTMFEvent} (contract §0).  So when roomkit imports,
the backend is built from exactly those; when it does not (Python 3.11, or
no C{roomkit} extra) L{roomkit_sip._aio.types} stands in with the same
fields.  L{HAVE_ROOMKIT} says which.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "HAVE_ROOMKIT",
    "AudioChunk",
    "AudioFrame",
    "DTMFEvent",
    "ProtocolTrace",
    "VoiceBackendBase",
    "VoiceCapability",
    "VoiceSession",
    "VoiceSessionEndedError",
    "VoiceSessionState",
]

VoiceBackendBase: Any
try:
    from roomkit.core.exceptions import VoiceSessionEndedError
    from roomkit.models.trace import ProtocolTrace
    from roomkit.voice.audio_frame import AudioFrame
    from roomkit.voice.backends.base import VoiceBackend as VoiceBackendBase
    from roomkit.voice.base import (
        AudioChunk,
        VoiceCapability,
        VoiceSession,
        VoiceSessionState,
    )
    from roomkit.voice.pipeline.dtmf.base import DTMFEvent
except ImportError:
    from roomkit_sip._aio.types import (  # type: ignore[assignment]
        AudioChunk,
        AudioFrame,
        DTMFEvent,
        ProtocolTrace,
        VoiceCapability,
        VoiceSession,
        VoiceSessionEndedError,
        VoiceSessionState,
    )
    from roomkit_sip._aio.types import LocalVoiceBackend as VoiceBackendBase

    HAVE_ROOMKIT = False
else:
    HAVE_ROOMKIT = True
