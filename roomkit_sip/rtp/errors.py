# -*- test-case-name: tests.rtp.test_packet -*-
"""
The errors the media parsers raise.

The receive path parses every datagram inside one C{try}: each parser raises
exactly one exception type, never anything else, so the caller can count and
drop the datagram (C{stats.counters.dropped_invalid += 1}) without a broad
C{except}.  A C{try} costs nothing in CPython 3.11+ while no exception is
raised, which is why this is faster than returning C{(None, reason)} for the
well-formed packets that make up nearly all traffic.

C{reason} is one of the short constant strings below, suitable as a metrics
label.
"""

#: Shorter than a fixed header or than the lengths the header announces.
TRUNCATED = "truncated"
#: Version field is not 2 (RFC 3550 §5.1, A.1, A.2).
BAD_VERSION = "version"
#: Padding octet count is 0 or larger than the payload (RFC 3550 §5.1, A.1).
BAD_PADDING = "padding"
#: The datagram on the RTP port is RTCP (second octet 192-223, RFC 5761 §4).
RTCP_ON_RTP_PORT = "rtcp-mux"
#: A compound RTCP packet that does not start with SR or RR (RFC 3550 §6.1, A.2).
NOT_COMPOUND = "not-compound"
#: RTCP length fields that do not add up to the datagram (RFC 3550 A.2).
BAD_LENGTH = "length"
#: A field value the format does not allow (e.g. an SDES chunk without end).
MALFORMED = "malformed"


class MediaParseError(ValueError):
    """
    Base of the media parse errors.

    @ivar reason: one of the module's reason constants.
    @ivar detail: human-readable detail for logs.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class RTPParseError(MediaParseError):
    """The datagram is not a valid RTP packet (or is RTCP multiplexed on the RTP port)."""


class RTCPParseError(MediaParseError):
    """The datagram is not a valid (compound) RTCP packet."""


class EventParseError(MediaParseError):
    """An RFC 4733 telephone-event payload is malformed."""
