"""
The sans-IO SIP signalling core: messages, URIs, SDP, digest authentication,
transactions and dialogs.  Nothing here touches a socket or a reactor; timers
are driven through an injected C{IReactorTime}.

The message layer is re-exported here; see C{docs/architecture.md}, "SIP
messages", for the contract other modules rely on.
"""

from roomkit_sip.sip.errors import SIPFramingError, SIPParseError
from roomkit_sip.sip.fields import CSeq, Params, Via
from roomkit_sip.sip.framing import StreamFramer
from roomkit_sip.sip.headers import Headers
from roomkit_sip.sip.message import Request, Response, make_response, serialize
from roomkit_sip.sip.parser import parse_message
from roomkit_sip.sip.uri import URI, AbsoluteURI, Address, SipURI, TelURI, parse_address, parse_uri

__all__ = [
    "URI",
    "AbsoluteURI",
    "Address",
    "CSeq",
    "Headers",
    "Params",
    "Request",
    "Response",
    "SIPFramingError",
    "SIPParseError",
    "SipURI",
    "StreamFramer",
    "TelURI",
    "Via",
    "make_response",
    "parse_address",
    "parse_message",
    "parse_uri",
    "serialize",
]
