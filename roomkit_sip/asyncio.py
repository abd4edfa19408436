# -*- test-case-name: tests.aio.test_backend -*-
"""
roomkit-sip for asyncio applications: L{SIPVoiceBackend}, a drop-in for
roomkit's C{roomkit.voice.backends.sip.SIPVoiceBackend}.

With roomkit installed (Python 3.12+, the C{roomkit} extra) the backend is
a roomkit C{VoiceBackend} and hands out roomkit's C{VoiceSession},
C{AudioFrame} and C{DTMFEvent}; without it, the same API works with the
classes of the same names exported here (L{HAVE_ROOMKIT} says which).
Twisted runs on the application's loop; see C{docs/asyncio.md}.
"""

from roomkit_sip import PT_G722, PT_PCMA, PT_PCMU
from roomkit_sip._aio.backend import SIPVoiceBackend
from roomkit_sip._aio.bridge import ReactorMismatchError, WrongThreadError
from roomkit_sip._aio.incoming import InviteView
from roomkit_sip._aio.roomkit_types import (
    HAVE_ROOMKIT,
    AudioChunk,
    AudioFrame,
    DTMFEvent,
    ProtocolTrace,
    VoiceCapability,
    VoiceSession,
    VoiceSessionEndedError,
    VoiceSessionState,
)

__all__ = [
    "HAVE_ROOMKIT",
    "PT_G722",
    "PT_PCMA",
    "PT_PCMU",
    "AudioChunk",
    "AudioFrame",
    "DTMFEvent",
    "InviteView",
    "ProtocolTrace",
    "ReactorMismatchError",
    "SIPVoiceBackend",
    "VoiceCapability",
    "VoiceSession",
    "VoiceSessionEndedError",
    "VoiceSessionState",
    "WrongThreadError",
]
