# -*- test-case-name: tests.sip.test_sdp -*-
"""
SDP session descriptions (RFC 4566): a frozen model and its serializer, and
L{parse_sdp}, which lives in the private L{roomkit_sip.sip._sdp_parse} and
is re-exported here: import everything SDP from this module.

C{bytes(description)} writes the lines back in the §5 order whatever order
they were read in.  Lines of a type the model does not know are kept in
C{other} and written back after the known ones of their section.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace
from typing import NamedTuple

__all__ = [
    "STATIC_PAYLOAD_TYPES", "Attribute", "Bandwidth", "Connection", "Direction",
    "MediaDescription", "Origin", "RtcpAttribute", "RtpMap", "SDPParseError",
    "SessionDescription", "Timing", "parse_sdp",
]  # fmt: skip

_DIGITS = re.compile(r"[0-9]{1,20}")  # 2**64 fits; int() of a huge string would raise
_MS = re.compile(r"([0-9]{1,6})(?:\.0*)?")


class SDPParseError(ValueError):
    """
    A session description that cannot be read.  A UAS answers the request
    that carried it with C{status} and C{reason}: the body is malformed, which
    is not the same as unacceptable (488, L{roomkit_sip.sip.offer_answer}).
    """

    status = 400
    reason = "Bad Request"

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(message if line is None else f"SDP line {line}: {message}")


class Direction(enum.Enum):
    """The four direction attributes (RFC 4566 §6, RFC 3264 §5.1), from the
    point of view of the side whose description carries them."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @classmethod
    def of(cls, sends: bool, receives: bool) -> Direction:
        """The direction that sends and receives as told."""
        return _DIRECTIONS[sends, receives]

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    def reverse(self) -> Direction:
        """The peer's view: C{sendonly} here is C{recvonly} there (RFC 3264 §6.1)."""
        return Direction.of(self.receives, self.sends)

    def restrict(self, other: Direction) -> Direction:
        """What both allow: C{sendrecv.restrict(recvonly)} is C{recvonly}."""
        return Direction.of(self.sends and other.sends, self.receives and other.receives)


_DIRECTIONS = {(d.sends, d.receives): d for d in Direction}


@dataclass(frozen=True)
class Origin:
    """C{o=} (RFC 4566 §5.2): who made the description, and which version of it."""

    username: str
    sess_id: int
    sess_version: int
    nettype: str
    addrtype: str
    address: str

    def __str__(self) -> str:
        return (
            f"{self.username} {self.sess_id} {self.sess_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True)
class Connection:
    """C{c=} (RFC 4566 §5.7).  C{address} is the connection-address as written,
    which for multicast includes C{/ttl} and C{/count}."""

    nettype: str
    addrtype: str
    address: str

    @classmethod
    def for_address(cls, address: str) -> Connection:
        """C{IN IP6} when C{address} has a colon, else C{IN IP4}."""
        return cls("IN", "IP6" if ":" in address else "IP4", address)

    @property
    def host(self) -> str:
        """The address without multicast C{/ttl/count} suffixes."""
        return self.address.split("/", 1)[0]

    @property
    def is_unspecified(self) -> bool:
        """C{0.0.0.0} (or C{::}): the RFC 2543 hold, send nothing (RFC 3264 §8.4)."""
        return self.host in ("0.0.0.0", "::")

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass(frozen=True)
class Bandwidth:
    """C{b=<bwtype>:<bandwidth>} (RFC 4566 §5.8), kilobits per second for C{AS}/C{CT}."""

    bwtype: str
    bandwidth: int

    def __str__(self) -> str:
        return f"{self.bwtype}:{self.bandwidth}"


@dataclass(frozen=True)
class Timing:
    """C{t=} with the C{r=} lines that follow it (RFC 4566 §5.9, §5.10), kept as text."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attribute:
    """C{a=name} (a flag, C{value} is C{None}) or C{a=name:value} (RFC 4566 §5.13)."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


class RtpMap(NamedTuple):
    """One payload type's encoding (C{a=rtpmap}, RFC 4566 §6), or its static default."""

    payload_type: int
    encoding_name: str
    clock_rate: int
    channels: int = 1

    def matches(self, encoding_name: str, clock_rate: int, channels: int) -> bool:
        """Same encoding: names compare case-insensitively (RFC 4855 §3)."""
        return (
            self.encoding_name.lower() == encoding_name.lower()
            and self.clock_rate == clock_rate
            and self.channels == channels
        )

    def __str__(self) -> str:
        suffix = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.payload_type} {self.encoding_name}/{self.clock_rate}{suffix}"


class RtcpAttribute(NamedTuple):
    """C{a=rtcp:<port> [<nettype> <addrtype> <address>]} (RFC 3605 §2.1)."""

    port: int
    connection: Connection | None = None


#: RFC 3551 §6, tables 4 and 5: payload types that need no C{a=rtpmap}.
STATIC_PAYLOAD_TYPES: dict[int, RtpMap] = {
    pt: RtpMap(pt, name, rate, channels)
    for pt, name, rate, channels in (
        (0, "PCMU", 8000, 1), (3, "GSM", 8000, 1), (4, "G723", 8000, 1),
        (5, "DVI4", 8000, 1), (6, "DVI4", 16000, 1), (7, "LPC", 8000, 1),
        (8, "PCMA", 8000, 1), (9, "G722", 8000, 1), (10, "L16", 44100, 2),
        (11, "L16", 44100, 1), (12, "QCELP", 8000, 1), (13, "CN", 8000, 1),
        (14, "MPA", 90000, 1), (15, "G728", 8000, 1), (16, "DVI4", 11025, 1),
        (17, "DVI4", 22050, 1), (18, "G729", 8000, 1), (25, "CelB", 90000, 1),
        (26, "JPEG", 90000, 1), (28, "nv", 90000, 1), (31, "H261", 90000, 1),
        (32, "MPV", 90000, 1), (33, "MP2T", 90000, 1), (34, "H263", 90000, 1),
    )
}  # fmt: skip


def _first(attributes: tuple[Attribute, ...], name: str) -> Attribute | None:
    return next((a for a in attributes if a.name == name), None)


def _direction_in(attributes: tuple[Attribute, ...]) -> Direction | None:
    for attribute in attributes:
        if attribute.value is None and attribute.name in _BY_VALUE:
            return _BY_VALUE[attribute.name]
    return None


_BY_VALUE = {d.value: d for d in Direction}


def _milliseconds(attribute: Attribute | None) -> int | None:
    match = _MS.fullmatch((attribute.value or "").strip()) if attribute else None
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class MediaDescription:
    """One C{m=} section (RFC 4566 §5.14) and the lines under it."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    information: str | None = None
    connections: tuple[Connection, ...] = ()
    bandwidths: tuple[Bandwidth, ...] = ()
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    other: tuple[tuple[str, str], ...] = ()

    def attribute(self, name: str) -> Attribute | None:
        """The first attribute called C{name}."""
        return _first(self.attributes, name)

    def rtpmaps(self) -> dict[int, RtpMap]:
        """Encodings of the numeric formats, in C{m=} order.  C{a=rtpmap} wins;
        without one a static payload type has its RFC 3551 meaning; a dynamic
        one without a usable rtpmap is left out."""
        explicit: dict[int, RtpMap] = {}
        for attribute in self.attributes:
            if attribute.name == "rtpmap" and attribute.value is not None:
                rtpmap = _parse_rtpmap(attribute.value)
                if rtpmap is not None:
                    explicit.setdefault(rtpmap.payload_type, rtpmap)
        found: dict[int, RtpMap] = {}
        for fmt in self.formats:
            pt = int(fmt) if _DIGITS.fullmatch(fmt) else None
            if pt is not None and pt <= 127:
                rtpmap = explicit.get(pt, STATIC_PAYLOAD_TYPES.get(pt))
                if rtpmap is not None and pt not in found:
                    found[pt] = rtpmap
        return found

    def fmtp(self, payload_type: int | str) -> str | None:
        """The format parameters of C{payload_type} (C{a=fmtp:<pt> <params>})."""
        for attribute in self.attributes:
            if attribute.name == "fmtp" and attribute.value is not None:
                fmt, _, params = attribute.value.strip().partition(" ")
                if fmt == str(payload_type):
                    return params.strip()
        return None

    @property
    def ptime(self) -> int | None:
        """C{a=ptime} in milliseconds (RFC 4566 §6), C{None} if absent or fractional."""
        return _milliseconds(self.attribute("ptime"))

    @property
    def maxptime(self) -> int | None:
        """C{a=maxptime} in milliseconds (RFC 4566 §6)."""
        return _milliseconds(self.attribute("maxptime"))

    @property
    def direction_attribute(self) -> Direction | None:
        """This section's own direction attribute, if any."""
        return _direction_in(self.attributes)

    @property
    def rtcp(self) -> RtcpAttribute | None:
        """C{a=rtcp} (RFC 3605), C{None} if absent or malformed."""
        attribute = self.attribute("rtcp")
        fields = (attribute.value or "").split() if attribute else []
        if not fields or not _DIGITS.fullmatch(fields[0]) or len(fields) not in (1, 4):
            return None
        connection = Connection(*fields[1:]) if len(fields) == 4 else None
        port = int(fields[0])
        return RtcpAttribute(port, connection) if port <= 65535 else None

    def lines(self) -> list[str]:
        """The section's lines in RFC 4566 §5 order, without line ends."""
        port = self.port if self.port_count is None else f"{self.port}/{self.port_count}"
        out = [" ".join(["m=" + self.media, str(port), self.proto, *self.formats])]
        if self.information is not None:
            out.append("i=" + self.information)
        out += [f"c={c}" for c in self.connections] + [f"b={b}" for b in self.bandwidths]
        if self.key is not None:
            out.append("k=" + self.key)
        out += [f"a={a}" for a in self.attributes] + [f"{t}={v}" for t, v in self.other]
        return out


def _parse_rtpmap(value: str) -> RtpMap | None:
    pt, _, encoding = value.strip().partition(" ")
    parts = encoding.strip().split("/")
    if not _DIGITS.fullmatch(pt) or int(pt) > 127 or len(parts) not in (2, 3):
        return None
    if not parts[0] or not all(_DIGITS.fullmatch(p) for p in parts[1:]):
        return None
    channels = int(parts[2]) if len(parts) == 3 else 1
    return RtpMap(int(pt), parts[0], int(parts[1]), channels) if channels else None


@dataclass(frozen=True)
class SessionDescription:
    """A whole description.  C{bytes(sdp)} / C{str(sdp)} serialize it with CRLF."""

    origin: Origin
    session_name: str = "-"
    connection: Connection | None = None
    timings: tuple[Timing, ...] = (Timing(),)
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()
    information: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    bandwidths: tuple[Bandwidth, ...] = ()
    time_zones: str | None = None
    key: str | None = None
    other: tuple[tuple[str, str], ...] = ()
    version: int = 0

    def attribute(self, name: str) -> Attribute | None:
        """The first session-level attribute called C{name}."""
        return _first(self.attributes, name)

    @property
    def direction_attribute(self) -> Direction | None:
        """The session-level direction attribute, if any."""
        return _direction_in(self.attributes)

    def direction_of(self, media: MediaDescription) -> Direction:
        """C{media}'s direction: its own attribute, else the session's, else
        C{sendrecv} (RFC 4566 §6, RFC 3264 §5.1)."""
        return media.direction_attribute or self.direction_attribute or Direction.SENDRECV

    def connection_of(self, media: MediaDescription) -> Connection | None:
        """Where C{media} goes: its first C{c=}, else the session's (RFC 4566 §5.7)."""
        return media.connections[0] if media.connections else self.connection

    def with_version(self, sess_version: int) -> SessionDescription:
        """A copy whose C{o=} carries C{sess_version}."""
        return replace(self, origin=replace(self.origin, sess_version=sess_version))

    def lines(self) -> list[str]:
        """Every line in RFC 4566 §5 order, without line ends."""
        out = [f"v={self.version}", f"o={self.origin}", "s=" + (self.session_name or " ")]
        for letter, value in (("i", self.information), ("u", self.uri)):
            if value is not None:
                out.append(f"{letter}={value}")
        out += ["e=" + e for e in self.emails] + ["p=" + p for p in self.phones]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"b={b}" for b in self.bandwidths]
        for timing in self.timings:
            out.append(f"t={timing.start} {timing.stop}")
            out += ["r=" + r for r in timing.repeats]
        for letter, value in (("z", self.time_zones), ("k", self.key)):
            if value is not None:
                out.append(f"{letter}={value}")
        out += [f"a={a}" for a in self.attributes] + [f"{t}={v}" for t, v in self.other]
        for media in self.media:
            out += media.lines()
        return out

    def __str__(self) -> str:
        return "".join(line + "\r\n" for line in self.lines())

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")


# The parser builds the model above, so it is imported last; _sdp_parse does
# the same the other way round, so either module may be imported first.
from roomkit_sip.sip._sdp_parse import parse_sdp  # noqa: E402
