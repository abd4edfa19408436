"""
roomkit-sip: a Twisted SIP voice backend for voice-AI applications.

The package is layered: a sans-IO protocol core (L{roomkit_sip.sip},
L{roomkit_sip.rtp}, L{roomkit_sip.codecs}), thin Twisted protocols on top of it,
the call engine, and two adapters (the asyncio/roomkit backend and the twistd
service).  Only the version and the static payload-type constants live here so
that importing the package stays cheap.
"""

from roomkit_sip._version import __version__

#: RFC 3551 static payload types of the built-in codecs.
PT_PCMU = 0
PT_PCMA = 8
PT_G722 = 9

__all__ = ["__version__", "PT_PCMU", "PT_PCMA", "PT_G722"]
