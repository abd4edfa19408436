"""
Classic libpcap files of RTP over UDP/IPv4, for SIPp's C{play_pcap_audio}.

SIPp 3.6 reads captures with libpcap and accepts only two link types:
Ethernet (C{DLT_EN10MB} = 1) and Linux cooked capture (C{DLT_LINUX_SLL} =
113); it rejects raw IP.  Every record must be complete (captured length ==
original length).  From each packet it keeps the UDP header and payload and
replaces the addresses: the destination becomes the media address of the
peer's SDP (a packet's destination port is taken relative to the lowest
destination port in the file, so give every packet the same one), the source
becomes SIPp's C{-mi}/C{-mp}.  The time stamps set the pacing.  So what
matters here is the RTP inside; the Ethernet/IP/UDP framing is written
correctly (lengths, IPv4 header checksum, UDP checksum) so that Wireshark and
tcpdump read the files too.

RTP is RFC 3550 (version 2, no CSRC, no extension); telephone events are
RFC 4733 section 2.3.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

LINKTYPE_ETHERNET = 1
PCAP_MAGIC = 0xA1B2C3D4
_ETHERTYPE_IPV4 = 0x0800
_IPPROTO_UDP = 17
_SRC_MAC = bytes.fromhex("020000000001")  # locally administered
_DST_MAC = bytes.fromhex("020000000002")

#: one RTP packet on the wire: (seconds since the first packet, RTP bytes)
TimedPacket = tuple[float, bytes]


def _checksum(data: bytes) -> int:
    """
    The Internet checksum (RFC 1071) of C{data}.
    """
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_ipv4_frame(
    payload: bytes,
    src: tuple[str, int],
    dst: tuple[str, int],
    *,
    ident: int = 0,
) -> bytes:
    """
    An Ethernet II frame holding one IPv4/UDP datagram with valid checksums.
    """
    src_ip = ipaddress.IPv4Address(src[0]).packed
    dst_ip = ipaddress.IPv4Address(dst[0]).packed
    udp_length = 8 + len(payload)
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, _IPPROTO_UDP, udp_length)
    udp = struct.pack("!HHHH", src[1], dst[1], udp_length, 0) + payload
    udp_sum = _checksum(pseudo + udp) or 0xFFFF  # 0 means "no checksum" in UDP
    udp = udp[:6] + struct.pack("!H", udp_sum) + udp[8:]
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,  # version 4, 5-word header
        0,
        20 + udp_length,
        ident & 0xFFFF,
        0x4000,  # don't fragment
        64,
        _IPPROTO_UDP,
        0,
        src_ip,
        dst_ip,
    )
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return _DST_MAC + _SRC_MAC + struct.pack("!H", _ETHERTYPE_IPV4) + header + udp


def rtp_packet(
    payload: bytes,
    *,
    payload_type: int,
    seq: int,
    timestamp: int,
    ssrc: int,
    marker: bool = False,
) -> bytes:
    """
    An RTP packet (RFC 3550 section 5.1): version 2, no padding, CSRC or extension.
    """
    if not 0 <= payload_type < 128:
        raise ValueError(f"payload type {payload_type} out of range")
    return (
        struct.pack(
            "!BBHII",
            0x80,
            (0x80 if marker else 0) | payload_type,
            seq & 0xFFFF,
            timestamp & 0xFFFFFFFF,
            ssrc & 0xFFFFFFFF,
        )
        + payload
    )


def audio_packets(
    payloads: Sequence[bytes],
    *,
    payload_type: int,
    ssrc: int = 0x5EED0001,
    seq: int = 1000,
    timestamp: int = 160_000,
    samples_per_packet: int = 160,
    ptime: float = 0.020,
    start: float = 0.0,
) -> list[TimedPacket]:
    """
    One talk spurt: consecutive RTP packets, the first with the marker bit.

    @param payloads: encoded frames, one per packet.
    @param samples_per_packet: the RTP timestamp step (160 for 20 ms at 8 kHz).
    """
    return [
        (
            start + i * ptime,
            rtp_packet(
                frame,
                payload_type=payload_type,
                seq=seq + i,
                timestamp=timestamp + i * samples_per_packet,
                ssrc=ssrc,
                marker=i == 0,
            ),
        )
        for i, frame in enumerate(payloads)
    ]


def telephone_event_payload(event: int, *, end: bool, volume: int, duration: int) -> bytes:
    """
    The 4-byte RFC 4733 event payload.

    @param volume: attenuation in dBm0, 0..63 (RFC 4733 section 2.3.4).
    @param duration: in RTP timestamp units, since the event began.
    """
    if not 0 <= event <= 255 or not 0 <= volume <= 63 or not 0 <= duration <= 0xFFFF:
        raise ValueError("event, volume or duration out of range")
    return struct.pack("!BBH", event, (0x80 if end else 0) | volume, duration)


#: RFC 4733 section 3.2 event codes of the DTMF keys
DTMF_EVENTS = {
    **{str(d): d for d in range(10)},
    **{"*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15},
}


def dtmf_packets(
    digit: str,
    *,
    payload_type: int = 101,
    ssrc: int = 0x5EED0001,
    seq: int = 2000,
    timestamp: int = 320_000,
    duration_ms: int = 100,
    volume: int = 10,
    clock_rate: int = 8000,
    ptime: float = 0.020,
    end_repeats: int = 3,
    start: float = 0.0,
) -> list[TimedPacket]:
    """
    One RFC 4733 key press, as senders usually emit it.

    Every packet of the event carries the same RTP timestamp (the event's
    start); the first has the marker bit; an update follows every C{ptime}
    with the growing duration; the final duration goes out C{end_repeats}
    times with the E bit (RFC 4733 section 2.5.1.4), each with its own
    sequence number.
    """
    event = DTMF_EVENTS[digit.upper()]
    step = round(clock_rate * ptime)
    total = round(clock_rate * duration_ms / 1000)
    durations = list(range(step, total, step)) + [total]
    packets = []
    for i, elapsed in enumerate(durations):
        last = i == len(durations) - 1
        for _ in range(end_repeats if last else 1):
            packets.append(
                (
                    start + i * ptime,
                    rtp_packet(
                        telephone_event_payload(event, end=last, volume=volume, duration=elapsed),
                        payload_type=payload_type,
                        seq=seq + len(packets),
                        timestamp=timestamp,
                        ssrc=ssrc,
                        marker=i == 0,
                    ),
                )
            )
    return packets


def pcap_bytes(
    packets: Iterable[TimedPacket],
    *,
    src: tuple[str, int] = ("127.0.0.1", 40000),
    dst: tuple[str, int] = ("127.0.0.1", 6000),
    epoch: float = 1_700_000_000.0,
) -> bytes:
    """
    RTP packets as a classic (microsecond) little-endian pcap file.

    @param packets: C{(offset seconds, RTP bytes)} in sending order.
    @param src: the source address written in the capture (SIPp replaces it).
    @param dst: the destination address written in the capture; SIPp sends
        each packet to the SDP port plus (this port - the lowest destination
        port in the file), so keep it the same for every packet.
    @param epoch: the capture time of the first packet (only offsets matter).
    """
    out = [struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET)]
    for ident, (offset, rtp) in enumerate(packets):
        frame = udp_ipv4_frame(rtp, src, dst, ident=ident)
        seconds, micros = divmod(round((epoch + offset) * 1_000_000), 1_000_000)
        out.append(struct.pack("<IIII", seconds, micros, len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


def write_pcap(path: str | Path, packets: Iterable[TimedPacket], **kwargs) -> Path:
    """
    Write L{pcap_bytes} to C{path}; returns C{path} as a L{Path}.
    """
    path = Path(path)
    path.write_bytes(pcap_bytes(packets, **kwargs))
    return path


@dataclass(frozen=True)
class PcapRecord:
    """
    One UDP/IPv4 datagram read back from a capture.
    """

    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


def read_pcap(path: str | Path) -> list[PcapRecord]:
    """
    Read the UDP/IPv4 datagrams of an Ethernet pcap file, checking checksums.

    Enough to inspect what SIPp will play (e.g. the payload type of its
    bundled DTMF captures) and to test L{write_pcap}; other packets are
    skipped, a damaged file raises C{ValueError}.
    """
    data = Path(path).read_bytes()
    if len(data) < 24:
        raise ValueError("not a pcap file: too short")
    magic = struct.unpack("<I", data[:4])[0]
    if magic == PCAP_MAGIC:
        endian = "<"
    elif magic == 0xD4C3B2A1:
        endian = ">"
    else:
        raise ValueError(f"not a microsecond pcap file (magic {magic:#x})")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != LINKTYPE_ETHERNET:
        raise ValueError(f"link type {linktype} is not Ethernet")
    records = []
    offset = 24
    while offset < len(data):
        if offset + 16 > len(data):
            raise ValueError("truncated record header")
        sec, usec, caplen, origlen = struct.unpack(endian + "IIII", data[offset : offset + 16])
        offset += 16
        frame = data[offset : offset + caplen]
        offset += caplen
        if len(frame) != caplen or caplen != origlen:
            raise ValueError("truncated packet")
        if struct.unpack("!H", frame[12:14])[0] != _ETHERTYPE_IPV4:
            continue
        ip = frame[14:]
        header_length = (ip[0] & 0x0F) * 4
        if ip[0] >> 4 != 4 or ip[9] != _IPPROTO_UDP:
            continue
        if _checksum(ip[:header_length]) != 0:
            raise ValueError("bad IPv4 header checksum")
        total = struct.unpack("!H", ip[2:4])[0]
        udp = ip[header_length:total]
        sport, dport, udp_length, udp_sum = struct.unpack("!HHHH", udp[:8])
        src_ip, dst_ip = ip[12:16], ip[16:20]
        if udp_sum:
            pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, _IPPROTO_UDP, udp_length)
            if _checksum(pseudo + udp[:udp_length]) != 0:
                raise ValueError("bad UDP checksum")
        records.append(
            PcapRecord(
                sec + usec / 1_000_000,
                (str(ipaddress.IPv4Address(src_ip)), sport),
                (str(ipaddress.IPv4Address(dst_ip)), dport),
                udp[8:udp_length],
            )
        )
    return records


def tone_packets(
    pcm16le: bytes,
    *,
    encode,
    payload_type: int,
    frame_bytes: int = 320,
    **kwargs,
) -> list[TimedPacket]:
    """
    Encode pcm16le frame by frame into one talk spurt of RTP packets.

    @param encode: pcm16le -> payload, e.g. L{tests.support.audio.ulaw_encode}.
    @param frame_bytes: pcm16le bytes per packet (320: 20 ms at 8 kHz); a
        short last frame is dropped.
    @param kwargs: passed to L{audio_packets} (SSRC, first sequence number...).
    """
    frames = [
        encode(pcm16le[i : i + frame_bytes])
        for i in range(0, len(pcm16le) - frame_bytes + 1, frame_bytes)
    ]
    return audio_packets(frames, payload_type=payload_type, **kwargs)
