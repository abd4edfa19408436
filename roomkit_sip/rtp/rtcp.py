# -*- test-case-name: tests.rtp.test_rtcp -*-
"""
RTCP (RFC 3550 §6): sender and receiver reports, SDES CNAME and BYE, parsed
from and built into compound packets; NTP timestamps and round-trip time.
L{RTCPSession}, the per-call state that decides what to report and when, is
in L{roomkit_sip.rtp.rtcp_session} and re-exported here.

L{parse_rtcp} validates a compound packet as RFC 3550 A.2 does (version 2,
first packet SR or RR, padding only on the last packet, lengths adding up to
the datagram) and raises L{RTCPParseError}, and nothing else, otherwise.
"""

from __future__ import annotations

import math
import struct
from typing import NamedTuple

from roomkit_sip.rtp import errors
from roomkit_sip.rtp.errors import RTCPParseError

__all__ = [
    "Bye",
    "OtherPacket",
    "RTCPParseError",
    "RTCPSession",
    "ReceiverReport",
    "RemoteReport",
    "ReportBlock",
    "SenderReport",
    "SourceDescription",
    "build_bye",
    "build_rr",
    "build_sdes",
    "build_sr",
    "ntp_from_unix",
    "ntp_middle",
    "parse_rtcp",
    "rtt_from_report",
    "unix_from_ntp",
]

SR, RR, SDES, BYE, APP = 200, 201, 202, 203, 204
SDES_CNAME = 1
#: Seconds from the NTP era 0 epoch (1900) to the Unix epoch (1970).
NTP_UNIX_OFFSET = 2208988800

_HEADER = struct.Struct("!BBH")
_SSRC = struct.Struct("!I")
_SENDER_INFO = struct.Struct("!IQIII")  # SSRC, NTP, RTP timestamp, packets, octets
_BLOCK = struct.Struct("!IIIIII")


class ReportBlock(NamedTuple):
    """One reception report block (§6.4.1)."""

    ssrc: int
    #: Fraction lost since the previous report, in 1/256.
    fraction_lost: int
    #: Cumulative packets lost, signed 24 bits.
    lost: int
    #: Extended highest sequence number received.
    highest_seq: int
    #: Interarrival jitter in timestamp units.
    jitter: int
    #: Middle 32 bits of the NTP timestamp of the last SR received, or 0.
    lsr: int
    #: Delay since that SR in 1/65536 s.
    dlsr: int


class SenderReport(NamedTuple):
    """A sender report (§6.4.1)."""

    ssrc: int
    #: 64-bit NTP timestamp (§4).
    ntp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...]


class ReceiverReport(NamedTuple):
    """A receiver report (§6.4.2)."""

    ssrc: int
    reports: tuple[ReportBlock, ...]


class SourceDescription(NamedTuple):
    """An SDES packet (§6.5)."""

    #: C{(ssrc, ((item type, value), ...))} per chunk (§6.5).
    chunks: tuple[tuple[int, tuple[tuple[int, bytes], ...]], ...]

    def cname(self, ssrc: int) -> str | None:
        """The CNAME given for C{ssrc}, if any."""
        for source, items in self.chunks:
            if source == ssrc:
                for kind, value in items:
                    if kind == SDES_CNAME:
                        return value.decode("utf-8", "replace")
        return None


class Bye(NamedTuple):
    """A BYE packet (§6.6)."""

    sources: tuple[int, ...]
    reason: str | None


class OtherPacket(NamedTuple):
    """A packet type this module does not interpret (APP, feedback, XR...)."""

    packet_type: int
    count: int
    body: bytes


RTCPPacket = SenderReport | ReceiverReport | SourceDescription | Bye | OtherPacket


def _blocks(data: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    blocks = []
    for _ in range(count):
        ssrc, word, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        lost = word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        blocks.append(ReportBlock(ssrc, word >> 24, lost, highest, jitter, lsr, dlsr))
        offset += 24
    return tuple(blocks)


def _sdes(data: bytes, pos: int, end: int, count: int) -> SourceDescription:
    chunks = []
    for _ in range(count):
        if end - pos < 4:
            raise RTCPParseError(errors.TRUNCATED, "SDES chunk")
        (ssrc,) = _SSRC.unpack_from(data, pos)
        pos += 4
        items = []
        while True:
            if pos >= end:
                raise RTCPParseError(errors.MALFORMED, "SDES chunk without end item")
            kind = data[pos]
            if kind == 0:
                pos = (pos + 4) & ~3  # null octets up to the next 32-bit boundary
                if pos > end:
                    raise RTCPParseError(errors.TRUNCATED, "SDES chunk padding")
                break
            if pos + 2 > end or pos + 2 + data[pos + 1] > end:
                raise RTCPParseError(errors.TRUNCATED, "SDES item")
            items.append((kind, data[pos + 2 : pos + 2 + data[pos + 1]]))
            pos += 2 + data[pos + 1]
        chunks.append((ssrc, tuple(items)))
    return SourceDescription(tuple(chunks))


def _bye(data: bytes, pos: int, end: int, count: int) -> Bye:
    if end - pos < 4 * count:
        raise RTCPParseError(errors.TRUNCATED, "BYE sources")
    sources = struct.unpack_from(f"!{count}I", data, pos)
    pos += 4 * count
    reason = None
    if pos < end:
        size = data[pos]
        if pos + 1 + size > end:
            raise RTCPParseError(errors.TRUNCATED, "BYE reason")
        reason = data[pos + 1 : pos + 1 + size].decode("utf-8", "replace")
    return Bye(sources, reason)


def parse_rtcp(data: bytes) -> list[RTCPPacket]:
    """
    Parse and validate a compound RTCP packet (§6.1, A.2).

    @raise RTCPParseError: if the datagram is not a valid compound packet;
        no other exception escapes.
    """
    size = len(data)
    packets: list[RTCPPacket] = []
    offset = 0
    if size < 4:
        raise RTCPParseError(errors.TRUNCATED, f"{size} octets")
    while offset < size:
        if size - offset < 4:
            raise RTCPParseError(errors.BAD_LENGTH, "trailing octets")
        b0, kind, words = _HEADER.unpack_from(data, offset)
        if b0 >> 6 != 2:
            raise RTCPParseError(errors.BAD_VERSION, str(b0 >> 6))
        if offset == 0 and kind not in (SR, RR):
            raise RTCPParseError(errors.NOT_COMPOUND, f"first packet type {kind}")
        end = offset + 4 * (words + 1)
        if end > size:
            raise RTCPParseError(errors.BAD_LENGTH, f"{words + 1} words past the datagram")
        stop = end
        if b0 & 0x20:
            # Padding only on the last packet, never on the first (A.2).
            padding = data[end - 1]
            if offset == 0 or end != size or padding == 0 or padding > end - offset - 4:
                raise RTCPParseError(errors.BAD_PADDING, f"{padding} octets of padding")
            stop -= padding
        count = b0 & 0x1F
        pos = offset + 4
        if kind == SR or kind == RR:
            fixed = 24 if kind == SR else 4
            if stop - pos < fixed + 24 * count:
                raise RTCPParseError(errors.TRUNCATED, f"report with {count} blocks")
            blocks = _blocks(data, pos + fixed, count)
            if kind == SR:
                packets.append(SenderReport(*_SENDER_INFO.unpack_from(data, pos), blocks))
            else:
                packets.append(ReceiverReport(_SSRC.unpack_from(data, pos)[0], blocks))
        elif kind == SDES:
            packets.append(_sdes(data, pos, stop, count))
        elif kind == BYE:
            packets.append(_bye(data, pos, stop, count))
        else:
            packets.append(OtherPacket(kind, count, data[pos:stop]))
        offset = end
    return packets


def _packet(kind: int, count: int, body: bytes) -> bytes:
    return _HEADER.pack(0x80 | count, kind, len(body) // 4) + body


def _pack_blocks(reports: tuple[ReportBlock, ...] | list[ReportBlock]) -> bytes:
    if len(reports) > 31:
        raise ValueError("at most 31 report blocks per packet")
    return b"".join(
        _BLOCK.pack(
            b.ssrc,
            (b.fraction_lost << 24) | (b.lost & 0xFFFFFF),
            b.highest_seq,
            b.jitter,
            b.lsr,
            b.dlsr,
        )
        for b in reports
    )


def build_sr(
    ssrc: int,
    ntp: int,
    rtp_timestamp: int,
    packet_count: int,
    octet_count: int,
    reports: tuple[ReportBlock, ...] | list[ReportBlock] = (),
) -> bytes:
    """A sender report (§6.4.1); counts wrap at 32 bits."""
    info = _SENDER_INFO.pack(
        ssrc, ntp, rtp_timestamp, packet_count & 0xFFFFFFFF, octet_count & 0xFFFFFFFF
    )
    return _packet(SR, len(reports), info + _pack_blocks(reports))


def build_rr(ssrc: int, reports: tuple[ReportBlock, ...] | list[ReportBlock] = ()) -> bytes:
    """A receiver report (§6.4.2)."""
    return _packet(RR, len(reports), _SSRC.pack(ssrc) + _pack_blocks(reports))


def build_sdes(ssrc: int, cname: str) -> bytes:
    """An SDES packet with one chunk holding the CNAME (§6.5.1)."""
    text = cname.encode("utf-8")
    if len(text) > 255:
        raise ValueError("CNAME longer than 255 octets")
    chunk = _SSRC.pack(ssrc) + bytes((SDES_CNAME, len(text))) + text
    chunk += bytes(4 - len(chunk) % 4)  # the end item, then up to a 32-bit boundary
    return _packet(SDES, 1, chunk)


def build_bye(sources: tuple[int, ...] | list[int], reason: str | None = None) -> bytes:
    """A BYE packet (§6.6), with an optional reason."""
    if len(sources) > 31:
        raise ValueError("at most 31 sources per BYE")
    body = struct.pack(f"!{len(sources)}I", *sources)
    if reason is not None:
        text = reason.encode("utf-8")[:255]
        body += bytes((len(text),)) + text
        body += bytes(-len(body) % 4)
    return _packet(BYE, len(sources), body)


def ntp_from_unix(seconds: float) -> int:
    """The 64-bit NTP timestamp (§4) of a Unix time in seconds."""
    whole = math.floor(seconds)
    fraction = int((seconds - whole) * 4294967296.0)
    return (((whole + NTP_UNIX_OFFSET) & 0xFFFFFFFF) << 32) | fraction


def unix_from_ntp(ntp: int) -> float:
    """The Unix time of a 64-bit NTP timestamp (era 0)."""
    return (ntp >> 32) - NTP_UNIX_OFFSET + (ntp & 0xFFFFFFFF) / 4294967296.0


def ntp_middle(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp, as LSR carries it (§6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


def rtt_from_report(arrival_ntp: int, lsr: int, dlsr: int) -> float | None:
    """
    Round-trip time in seconds from a report block that arrived at
    C{arrival_ntp}: C{A - LSR - DLSR} in 1/65536 s (§6.4.1, Figure 2).
    C{None} if the peer has not received an SR (LSR 0) or the clocks make the
    result negative.
    """
    if lsr == 0:
        return None
    delay = (ntp_middle(arrival_ntp) - lsr - dlsr) & 0xFFFFFFFF
    if delay >= 0x80000000:
        return None
    return delay / 65536.0


# The session builds on the packets above, so it is imported last;
# rtcp_session does the same the other way round, so either may load first.
from roomkit_sip.rtp.rtcp_session import RemoteReport, RTCPSession  # noqa: E402
