# -*- test-case-name: tests.sip.test_sdp -*-
"""
The SDP parser (RFC 4566) behind L{roomkit_sip.sip.sdp.parse_sdp}; import it
from there.  Private: the model it builds is L{roomkit_sip.sip.sdp}'s.

The parser is strict where a mistake would change meaning (the C{v=}/C{o=}/C{s=}
opening, C{t=} before the first C{m=}, session-only lines inside media, the
grammar of C{o=}, C{c=}, C{b=}, C{t=}, C{m=} and attribute names) and lenient
where real peers are sloppy but unambiguous: bare LF line ends, trailing
whitespace, blank lines at the end, and optional lines out of the §5 order
within their section (the serializer writes them back in order).  Lines of an
unknown type are kept in C{other}; RFC 4566 §5 says to ignore the whole
description instead, but GB28181 devices send C{y=}/C{f=} and the rest of
their description is sound.

The model is imported at the bottom: C{sdp} re-exports L{parse_sdp} with an
import at its own bottom, so each module has defined its names before it
reaches for the other's, whichever of the two is imported first.
"""

from __future__ import annotations

import re
from dataclasses import replace

__all__ = ["parse_sdp"]

_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_PROTO = re.compile(rf"{_TOKEN.pattern}(?:/{_TOKEN.pattern})*")

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


from roomkit_sip.sip.sdp import (  # noqa: E402
    _DIGITS,
    Attribute,
    Bandwidth,
    Connection,
    MediaDescription,
    Origin,
    SDPParseError,
    SessionDescription,
    Timing,
)
