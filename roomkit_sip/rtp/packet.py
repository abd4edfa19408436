# -*- test-case-name: tests.rtp.test_packet -*-
"""
RTP packets (RFC 3550 §5.1): parse with the validity checks of §5.1 and A.1,
build, and the modular arithmetic of sequence numbers and timestamps.

L{parse_rtp} raises L{RTPParseError} and nothing else, whatever the bytes; the
receive path catches it, counts C{err.reason} and drops the datagram.  RTCP
multiplexed onto the RTP port (RFC 5761) is reported as the reason
L{RTCP_ON_RTP_PORT} so that the caller can hand the datagram to the RTCP
parser instead.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from roomkit_sip.rtp.errors import (
    BAD_PADDING,
    BAD_VERSION,
    RTCP_ON_RTP_PORT,
    TRUNCATED,
    RTPParseError,
)

__all__ = [
    "RTPPacket",
    "RTPParseError",
    "build_rtp",
    "is_rtcp",
    "parse_rtp",
    "seq_add",
    "seq_diff",
    "seq_newer",
    "ts_add",
    "ts_diff",
    "ts_newer",
]

RTP_VERSION = 2
#: Sequence numbers are 16 bits and timestamps 32 bits, both wrapping (RFC 3550 §5.1).
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32

_FIXED = struct.Struct("!BBHII")
_EXT_HEADER = struct.Struct("!HH")
_CSRCS = [struct.Struct(f"!{n}I") for n in range(16)]
_NO_CSRCS: tuple[int, ...] = ()
_new = tuple.__new__


class RTPPacket(NamedTuple):
    """
    One parsed RTP packet.  A named tuple because it is built once per
    datagram: immutable, compared by value and cheap to create.

    @ivar extension: C{None}, or C{(profile, data)} for a §5.3.1 header
        extension (C{data} without the 4-octet extension header).
    @ivar payload: the payload with any padding removed.
    """

    marker: bool
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    csrcs: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None

    def to_bytes(self) -> bytes:
        """Serialise this packet (without padding)."""
        return build_rtp(
            self.payload_type,
            self.sequence,
            self.timestamp,
            self.ssrc,
            self.payload,
            marker=self.marker,
            csrcs=self.csrcs,
            extension=self.extension,
        )


def is_rtcp(data: bytes) -> bool:
    """
    Whether a datagram received on a multiplexed port is RTCP.

    RFC 5761 §4: the second octet (RTP marker + payload type, RTCP packet
    type) is 192-223 for RTCP, a range RTP payload types must then avoid.
    """
    return len(data) >= 2 and 192 <= data[1] <= 223


def parse_rtp(data: bytes) -> RTPPacket:
    """
    Parse and validate an RTP packet (RFC 3550 §5.1, §5.3.1, A.1).

    @raise RTPParseError: on anything else than a well-formed RTP packet;
        C{err.reason} says why.  No other exception escapes.
    """
    size = len(data)
    if size < 12:
        # A receiver report without blocks is 8 octets: tell RTCP apart first.
        if size >= 2 and data[0] >> 6 == RTP_VERSION and 192 <= data[1] <= 223:
            raise RTPParseError(RTCP_ON_RTP_PORT, f"packet type {data[1]}")
        raise RTPParseError(TRUNCATED, f"{size} octets")
    b0, b1, sequence, timestamp, ssrc = _FIXED.unpack_from(data)
    if b0 >> 6 != RTP_VERSION:
        raise RTPParseError(BAD_VERSION, str(b0 >> 6))
    if 192 <= b1 <= 223:
        raise RTPParseError(RTCP_ON_RTP_PORT, f"packet type {b1}")
    if not b0 & 0x3F:
        # Fast path: no padding, no extension, no CSRC.
        return _new(
            RTPPacket, (b1 > 127, b1 & 0x7F, sequence, timestamp, ssrc, data[12:], _NO_CSRCS, None)
        )
    offset = 12
    count = b0 & 0x0F
    csrcs = _NO_CSRCS
    if count:
        offset += 4 * count
        if size < offset:
            raise RTPParseError(TRUNCATED, f"CSRC list of {count} in {size} octets")
        csrcs = _CSRCS[count].unpack_from(data, 12)
    extension = None
    if b0 & 0x10:
        # §5.3.1: 16 bits profile-defined, 16 bits length in 32-bit words.
        if size < offset + 4:
            raise RTPParseError(TRUNCATED, "header extension header")
        profile, words = _EXT_HEADER.unpack_from(data, offset)
        end = offset + 4 + 4 * words
        if size < end:
            raise RTPParseError(TRUNCATED, f"header extension of {words} words")
        extension = (profile, data[offset + 4 : end])
        offset = end
    stop = size
    if b0 & 0x20:
        # §5.1: the last octet counts the padding octets, itself included.
        padding = data[-1]
        if padding == 0 or padding > size - offset:
            raise RTPParseError(BAD_PADDING, f"{padding} octets of padding")
        stop -= padding
    return _new(
        RTPPacket,
        (b1 > 127, b1 & 0x7F, sequence, timestamp, ssrc, data[offset:stop], csrcs, extension),
    )


def build_rtp(
    payload_type: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    payload: bytes,
    *,
    marker: bool = False,
    csrcs: tuple[int, ...] = (),
    extension: tuple[int, bytes] | None = None,
    padding: int = 0,
) -> bytes:
    """
    Serialise an RTP packet (RFC 3550 §5.1).

    @param extension: C{(profile, data)}; C{len(data)} must be a multiple of
        4 (§5.3.1 counts the extension in 32-bit words).
    @param padding: number of padding octets to append (0-255), the last of
        which carries the count.
    @raise ValueError: if a field does not fit its width.
    """
    if not 0 <= payload_type <= 127:
        raise ValueError(f"payload type {payload_type} is not 0-127")
    if not csrcs and extension is None and not padding:
        try:
            return (
                _FIXED.pack(
                    0x80, (0x80 if marker else 0) | payload_type, sequence, timestamp, ssrc
                )
                + payload
            )
        except struct.error as e:
            raise ValueError(str(e)) from None
    if len(csrcs) > 15:
        raise ValueError("at most 15 CSRCs")
    b0 = 0x80 | len(csrcs)
    parts = []
    try:
        if csrcs:
            parts.append(_CSRCS[len(csrcs)].pack(*csrcs))
        if extension is not None:
            profile, blob = extension
            if len(blob) % 4:
                raise ValueError("header extension length is not a multiple of 4")
            b0 |= 0x10
            parts.append(_EXT_HEADER.pack(profile, len(blob) // 4))
            parts.append(blob)
        parts.append(payload)
        if padding:
            if not 0 < padding <= 255:
                raise ValueError(f"padding {padding} is not 0-255")
            b0 |= 0x20
            parts.append(bytes(padding - 1) + bytes((padding,)))
        header = _FIXED.pack(b0, (0x80 if marker else 0) | payload_type, sequence, timestamp, ssrc)
    except struct.error as e:
        raise ValueError(str(e)) from None
    return header + b"".join(parts)


def seq_add(sequence: int, n: int) -> int:
    """C{sequence + n} modulo 2**16."""
    return (sequence + n) & 0xFFFF


def seq_diff(a: int, b: int) -> int:
    """
    The signed distance C{a - b} between two sequence numbers, in
    [-32768, 32767]: the shorter way round the 16-bit circle.
    """
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def seq_newer(a: int, b: int) -> bool:
    """Whether sequence number C{a} comes after C{b} (serial arithmetic, RFC 1982)."""
    return 0 < ((a - b) & 0xFFFF) < 0x8000


def ts_add(timestamp: int, n: int) -> int:
    """C{timestamp + n} modulo 2**32."""
    return (timestamp + n) & 0xFFFFFFFF


def ts_diff(a: int, b: int) -> int:
    """The signed distance C{a - b} between two RTP timestamps, in [-2**31, 2**31 - 1]."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def ts_newer(a: int, b: int) -> bool:
    """Whether RTP timestamp C{a} is later than C{b} (serial arithmetic, RFC 1982)."""
    return 0 < ((a - b) & 0xFFFFFFFF) < 0x80000000
