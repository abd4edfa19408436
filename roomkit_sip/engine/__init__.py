"""
The call engine: a Twisted-native SIP user agent that answers and places calls,
owns their media and reports to one L{roomkit_sip.interfaces.ICallHandler}.
See C{docs/engine.md}.
"""

from roomkit_sip.engine.call import Call, CallFailed
from roomkit_sip.engine.config import EngineConfig
from roomkit_sip.engine.engine import SIPEngine
from roomkit_sip.engine.events import DTMFEvent, PlayedFrame
from roomkit_sip.engine.handler import CallHandler
from roomkit_sip.engine.incoming import MANUAL, IncomingCall
from roomkit_sip.engine.outgoing import CallRejected, DialTimeout
from roomkit_sip.engine.registration import (
    Registration,
    RegistrationFailed,
    RegistrationTimeout,
)

__all__ = [
    "MANUAL",
    "Call",
    "CallFailed",
    "CallHandler",
    "CallRejected",
    "DTMFEvent",
    "DialTimeout",
    "EngineConfig",
    "IncomingCall",
    "PlayedFrame",
    "Registration",
    "RegistrationFailed",
    "RegistrationTimeout",
    "SIPEngine",
]
