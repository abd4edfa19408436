# -*- test-case-name: tests.sip.test_sdp -*-
"""
SDP session descriptions (RFC 4566): a frozen model, a parser and a serializer.

The parser is strict where a mistake would change meaning (the C{v=}/C{o=}/C{s=}
opening, C{t=} before the first C{m=}, session-only lines inside media, the
grammar of C{o=}, C{c=}, C{b=}, C{t=}, C{m=} and attribute names) and lenient
where real peers are sloppy but unambiguous: bare LF line ends, trailing
whitespace, blank lines at the end, and optional lines out of the §5 order
within their section (the serializer writes them back in order).  Lines of an
unknown type are kept in C{other}; RFC 4566 §5 says to ignore the whole
description instead, but GB28181 devices send C{y=}/C{f=} and the rest of
their description is sound.
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

_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_PROTO = re.compile(rf"{_TOKEN.pattern}(?:/{_TOKEN.pattern})*")
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


# -- parsing --------------------------------------------------------------

_SESSION_ONLY = frozenset("vosuepzrt")
_ONCE = frozenset("vosiuzk")  # at most once per section (c= too, at session level)
_TEXT = {"s": "session_name", "i": "information", "u": "uri", "z": "time_zones", "k": "key"}


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise SDPParseError(message)


def _number(text: str, what: str, limit: int | None = None) -> int:
    _require(
        bool(_DIGITS.fullmatch(text)), f"{what} must be digits (20 at most), got {text[:40]!r}"
    )
    _require(limit is None or int(text) <= limit, f"{what} {text} is out of range")
    return int(text)


def _token(text: str, what: str, pattern: re.Pattern[str] = _TOKEN) -> str:
    _require(bool(pattern.fullmatch(text)), f"bad {what} {text[:40]!r}")
    return text


def _fields(value: str, letter: str, count: int, grammar: str) -> list[str]:
    fields = value.split()
    _require(len(fields) == count, f"{letter}= needs {grammar}, got {value[:60]!r}")
    return fields


def _origin(value: str) -> Origin:
    grammar = "<username> <sess-id> <sess-version> <nettype> <addrtype> <address>"
    user, sess_id, version, nettype, addrtype, address = _fields(value, "o", 6, grammar)
    return Origin(
        user, _number(sess_id, "sess-id"), _number(version, "sess-version"),
        _token(nettype, "nettype"), _token(addrtype, "addrtype"), address,
    )  # fmt: skip


def _connection(value: str) -> Connection:
    nettype, addrtype, address = _fields(value, "c", 3, "<nettype> <addrtype> <address>")
    return Connection(_token(nettype, "nettype"), _token(addrtype, "addrtype"), address)


def _bandwidth(value: str) -> Bandwidth:
    bwtype, colon, amount = value.partition(":")
    _require(bool(colon), f"b= needs <bwtype>:<bandwidth>, got {value[:40]!r}")
    return Bandwidth(_token(bwtype, "bwtype"), _number(amount, "bandwidth"))


def _timing(value: str) -> Timing:
    start, stop = _fields(value, "t", 2, "<start> <stop>")
    return Timing(_number(start, "start time"), _number(stop, "stop time"))


def _attribute(value: str) -> Attribute:
    name, colon, rest = value.partition(":")
    return Attribute(_token(name, "attribute name"), rest if colon else None)


_LISTS = {
    "e": ("emails", str), "p": ("phones", str), "t": ("timings", _timing),
    "b": ("bandwidths", _bandwidth), "a": ("attributes", _attribute),
    "c": ("connections", _connection),
}  # fmt: skip


def _media(value: str) -> dict:
    fields = value.split()
    _require(len(fields) >= 3, f"m= needs <media> <port> <proto> <fmt>..., got {value[:40]!r}")
    port_text, slash, count = fields[1].partition("/")
    port = _number(port_text, "port", 65535)
    formats = tuple(_token(f, "format") for f in fields[3:])
    # RFC 4566 §5.14 wants one format or more; a disabled stream may forget it.
    _require(bool(formats) or port == 0, "m= lists no format")
    return dict(
        media=_token(fields[0], "media type"), port=port, proto=_token(fields[2], "proto", _PROTO),
        formats=formats, port_count=_number(count, "number of ports") if slash else None,
        connections=[], bandwidths=[], attributes=[], other=[],
    )  # fmt: skip


class _Parser:
    """Sorts lines into the session and media sections, checking §5's rules."""

    def __init__(self) -> None:
        self.session: dict = dict(
            timings=[], attributes=[], emails=[], phones=[], bandwidths=[], other=[]
        )
        self.media: list[dict] = []
        self.seen: set[str] = set()
        self.count = 0
        self.last = ""

    def feed(self, letter: str, value: str) -> None:
        if self.count < 3:
            expected = "vos"[self.count]
            _require(letter == expected, f"expected {expected}= (RFC 4566 §5), got {letter}=")
        self.count += 1
        section = self.media[-1] if self.media else self.session
        if letter == "m":
            _require(bool(self.session["timings"]), "t= is required before the first m=")
            self.media.append(_media(value))
            self.seen = set()
        elif self.media and letter in _SESSION_ONLY:
            raise SDPParseError(f"{letter}= is not allowed in a media description")
        elif letter in self.seen and (letter in _ONCE or (letter == "c" and not self.media)):
            raise SDPParseError(f"more than one {letter}= line in a section")
        elif letter == "v":
            _require(value == "0", f"unsupported SDP version {value[:20]!r}")
        elif letter == "o":
            section["origin"] = _origin(value)
        elif letter == "r":
            _require(self.last in ("t", "r"), "r= must follow t= (RFC 4566 §5.10)")
            _require(len(value.split()) >= 3, f"r= needs 3 fields or more, got {value[:40]!r}")
            timing = section["timings"][-1]
            section["timings"][-1] = replace(timing, repeats=(*timing.repeats, value))
        elif letter == "c" and not self.media:
            section["connection"] = _connection(value)
        elif letter in _TEXT:
            section[_TEXT[letter]] = value
        elif letter in _LISTS:
            key, convert = _LISTS[letter]
            section[key].append(convert(value))
        else:
            section["other"].append((letter, value))
        self.seen.add(letter)
        self.last = letter

    def finish(self) -> SessionDescription:
        _require(self.count >= 3, "a description needs v=, o= and s=")
        _require(bool(self.session["timings"]), "t= is required (RFC 4566 §5)")
        frozen = [
            {k: tuple(v) if isinstance(v, list) else v for k, v in m.items()} for m in self.media
        ]
        media = tuple(MediaDescription(**m) for m in frozen)
        for index, m in enumerate(media, 1):
            _require(
                bool(m.connections) or "connection" in self.session,
                f"m= #{index} has no c= and there is no session-level c= (RFC 4566 §5.7)",
            )
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in self.session.items()}
        return SessionDescription(media=media, **fields)


def parse_sdp(data: bytes | str) -> SessionDescription:
    """
    Parse a session description (RFC 4566).  Bytes are read as UTF-8; bytes
    that are not UTF-8 survive a round trip through C{surrogateescape}.

    @raise SDPParseError: the description is malformed; the message names
        the line and the rule.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data).decode("utf-8", "surrogateescape")
    lines = data.split("\n")
    while lines and not lines[-1].strip(" \t\r"):
        lines.pop()
    _require(bool(lines), "empty session description")
    parser = _Parser()
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip(" \t\r")
        try:
            _require("\r" not in line and "\x00" not in line, "stray CR or NUL")
            _require(
                len(line) >= 2 and line[1] == "=" and line[0].isascii() and line[0].isalpha(),
                f"expected <type>=<value>, got {line[:40]!r}",
            )
            parser.feed(line[0], line[2:])
        except SDPParseError as e:
            raise SDPParseError(str(e), number) from None
    return parser.finish()
