# -*- test-case-name: tests.sip.test_parser -*-
"""
L{parse_message}: one datagram (or one framed stream message) in, one
L{Request} or L{Response} out, or a L{SIPParseError} that knows the answer.

What is validated eagerly, before a message is returned, is what the
transaction and dialog layers trust without checking again:

  - the start line: exactly one SP between its parts (RFC 3261 §7.1, §7.2;
    RFC 4475 §3.1.2.9, §3.1.2.10), the method a token, SIP/2.0 (else 505,
    §21.5.6), a well-formed Request-URI without headers (§19.1.1;
    RFC 4475 §3.1.2.11), a status code from 100 to 699;
  - every header field line: a token name, a colon, no bare CR or LF;
  - Via (at least one, every element well-formed), From, To, Call-ID and
    CSeq (exactly one each, well-formed; a request's CSeq method equal to its
    method, §8.1.1.5 and RFC 4475 §3.1.2.17), Max-Forwards in requests (at
    most one, 0-255) and Content-Length (at most one, digits).

Everything else (Contact, Content-Type, Expires, Date, Require...) is parsed
lazily by the message accessors, which raise L{SIPParseError} when asked for
a malformed value: an answer that does not need the field is not blocked by
it (RFC 4475 §3.1.2.12 allows ignoring a bad Date, §3.1.2.13 lets a
non-registrar answer a REGISTER with a bad Contact 405/501).
"""

from __future__ import annotations

import re

from roomkit_sip.sip import _grammar as g
from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.fields import parse_call_id, parse_cseq, parse_via_list
from roomkit_sip.sip.headers import CANONICAL, Headers
from roomkit_sip.sip.message import Request, Response, _max_forwards, _typed_field, _vias
from roomkit_sip.sip.uri import URI, SipURI, parse_address, parse_uri

__all__ = ["parse_message"]

# LWS = [*WSP CRLF] 1*WSP: a line starting with SP or HTAB continues the
# previous one, and the whole fold counts as one SP (§7.3.1).
_FOLD_RE = re.compile(r"[ \t]*\r\n[ \t]+")
# SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT (ABNF strings are
# case-insensitive, §25: "sip/2.0" is the same version).
_VERSION_RE = re.compile(r"(?i:SIP)/([0-9]+)\.([0-9]+)")
_MAX_DIGITS = 10


def parse_message(data: bytes) -> Request | Response:
    """
    Parse one SIP message received as a datagram (§18.3 rules for UDP).

    Leading CRLFs are skipped (§7.5).  Without Content-Length the body is
    the rest of the datagram; a Content-Length larger than what arrived is an
    error (RFC 4475 §3.1.2.2); octets after the declared length are discarded
    (RFC 4475 §3.1.1.8: a second message in the datagram is ignored).

    @raise SIPParseError: the only exception raised.  C{status} is 400,
        or 505 for another SIP version; C{partial} is the best-effort request
        to answer, or C{None} to drop (responses, ACK, no readable Via).
    """
    data = bytes(data)
    try:
        return _parse(data)
    except SIPParseError as error:
        if error.partial is None:
            error.partial = salvage_request(data)
        raise


def _parse(data: bytes) -> Request | Response:
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        raise SIPParseError(detail="header section not terminated by an empty line")
    head = data[start:end].decode("utf-8", "surrogateescape")
    if "\r\n " in head or "\r\n\t" in head:
        head = _FOLD_RE.sub(" ", head)
    lines = head.split("\r\n")
    if head.count("\r") != len(lines) - 1 or head.count("\n") != len(lines) - 1:
        raise SIPParseError(detail="bare CR or LF in the header section")
    first = lines[0]
    if first[:4].upper() == "SIP/":
        status, reason = _status_line(first)
        fields, eager = _header_fields(lines)
        headers = Headers._trusted(fields)
        headers._cache = _validate(eager)
        return Response(status, reason, headers, _body(data, end, eager[_LENGTH]))
    method, uri_text, uri = _request_line(first)
    fields, eager = _header_fields(lines)
    headers = Headers._trusted(fields)
    cache = headers._cache = _validate(eager)
    if cache["cseq"].method != method:
        raise SIPParseError(detail="CSeq method does not match the request method")
    cache["max-forwards"] = _max_forwards(eager[_MAX_FORWARDS])
    request = Request(method, uri_text, headers, _body(data, end, eager[_LENGTH]))
    request._uri_cache = (uri_text, uri)
    return request


#: Header fields validated before a message is returned, in the order of the
#: lists L{_header_fields} collects their lines in (so validation needs no
#: second pass over the fields).
_EAGER = ("via", "from", "to", "call-id", "cseq", "max-forwards", "content-length")
_MAX_FORWARDS, _LENGTH = 5, 6
#: Name as written -> (key, canonical name, index in _EAGER or -1).
_ENTRIES = {
    name: (key, canon, _EAGER.index(key) if key in _EAGER else -1)
    for name, (key, canon) in CANONICAL.items()
}


def _header_fields(lines: list[str]) -> tuple[list[tuple[str, str, str]], list[list[str]]]:
    """
    Split header field lines into (key, canonical name, value), and collect
    the values of the L{_EAGER} fields.  Content-Length is collected only,
    never stored.
    """
    fields = []
    eager: list[list[str]] = [[], [], [], [], [], [], []]
    known = _ENTRIES
    for i in range(1, len(lines)):
        name, colon, value = lines[i].partition(":")
        if not colon:
            raise SIPParseError(detail="header field line without a colon")
        entry = known.get(name)
        if entry is None:
            entry = _resolve(name)
        value = value.strip(" \t")
        slot = entry[2]
        if slot >= 0:
            eager[slot].append(value)
            if slot == _LENGTH:
                continue
        fields.append((entry[0], entry[1], value))
    return fields, eager


def _resolve(name: str) -> tuple[str, str, int]:
    # HCOLON = *( SP / HTAB ) ":" SWS ; field-name = token
    name = name.rstrip(" \t")
    entry = _ENTRIES.get(name) or _ENTRIES.get(name.lower())
    if entry is not None:
        return entry
    if g.token_re.fullmatch(name) is None:
        raise SIPParseError(detail="header field name is not a token")
    return name.lower(), name, -1


def _validate(eager: list[list[str]]) -> dict[str, object]:
    """
    Parse the fields every request and response carries (§8.1.1) and the
    transaction layer matches on (§17.1.3, §17.2.3): the seed of the
    message's typed-value cache.
    """
    vias, froms, tos, call_ids, cseqs = eager[0], eager[1], eager[2], eager[3], eager[4]
    if len(froms) == len(tos) == len(call_ids) == len(cseqs) == 1:
        try:
            return {
                "via": _vias(vias),
                "from": parse_address(froms[0]),
                "to": parse_address(tos[0]),
                "call-id": parse_call_id(call_ids[0]),
                "cseq": parse_cseq(cseqs[0]),
            }
        except SIPParseError:
            pass  # the field-by-field pass below names the culprit
    return {
        "via": _vias(vias),
        "from": _typed_field("From", froms, parse_address),
        "to": _typed_field("To", tos, parse_address),
        "call-id": _typed_field("Call-ID", call_ids, parse_call_id),
        "cseq": _typed_field("CSeq", cseqs, parse_cseq),
    }


def _body(data: bytes, end: int, lengths: list[str]) -> bytes:
    offset = end + 4
    if not lengths:
        return data[offset:]
    if len(lengths) > 1:
        raise SIPParseError(detail="more than one Content-Length header field")
    value = lengths[0]
    if not (value.isascii() and value.isdigit()):
        raise SIPParseError(detail="malformed Content-Length")
    available = len(data) - offset
    if len(value.lstrip("0")) > _MAX_DIGITS or int(value) > available:
        raise SIPParseError(detail="Content-Length larger than the message body")
    return data[offset : offset + int(value)]


def _check_version(version: str) -> None:
    if version == "SIP/2.0":
        return
    match = _VERSION_RE.fullmatch(version)
    if match is None:
        raise SIPParseError(detail="malformed SIP-Version")
    major, minor = match.groups()
    if len(major) > _MAX_DIGITS or len(minor) > _MAX_DIGITS or (int(major), int(minor)) != (2, 0):
        raise SIPParseError(505, detail="SIP version not supported")


def _request_line(line: str) -> tuple[str, str, URI]:
    # Request-Line = Method SP Request-URI SP SIP-Version CRLF
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SIPParseError(detail="malformed Request-Line")
    method, uri_text, version = parts
    if g.token_re.fullmatch(method) is None:
        raise SIPParseError(detail="method is not a token")
    _check_version(version)
    try:
        uri = parse_uri(uri_text)
    except SIPParseError:
        raise SIPParseError(detail="malformed Request-URI") from None
    if isinstance(uri, SipURI) and uri.headers:
        # §19.1.1 Table 1: header components are not allowed in a Request-URI.
        raise SIPParseError(detail="headers in the Request-URI")
    return method, uri_text, uri


def _status_line(line: str) -> tuple[int, str]:
    # Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF
    # (a missing "SP Reason-Phrase" is tolerated: it can only mean "").
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    _check_version(version)
    if not (len(code) == 3 and code.isascii() and code.isdigit() and "100" <= code <= "699"):
        raise SIPParseError(detail="malformed Status-Code")
    return int(code), reason


# sent-protocol LWS sent-by: what routing a response needs (§18.2.2).
_VIA_PREFIX_RE = re.compile(
    rf"{g.TOKEN}[ \t]*/[ \t]*{g.TOKEN}[ \t]*/[ \t]*{g.TOKEN}[ \t]+"
    rf"{g.HOST}(?:[ \t]*:[ \t]*[0-9]{{1,5}})?"
)


def _routable_via(lines: list[str]) -> str | None:
    """
    The sent-protocol and sent-by of the first Via line when its parameters
    are malformed (RFC 4475 §3.1.2.1 still expects a 400): enough to route
    the answer, though the client may fail to match it to a transaction.
    """
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        entry = CANONICAL.get(name.strip(" \t").lower())
        if colon and entry is not None and entry[0] == "via":
            match = _VIA_PREFIX_RE.match(value.strip(" \t"))
            if match is None:
                return None
            try:
                parse_via_list(match.group())
            except SIPParseError:
                return None
            return match.group()
    return None


def salvage_request(data: bytes) -> Request | None:
    """
    Read what can be read of a malformed request: enough to answer it.

    @return: a L{Request} with the readable Via (the top one at least), From,
        To, Call-ID and CSeq fields, or C{None} when no answer can be sent
        (a response; an ACK, which is never answered, §17; no top Via to
        route the answer by, §18.2.2).
    """
    end = data.find(b"\r\n\r\n")
    head = (data if end < 0 else data[:end]).decode("utf-8", "surrogateescape")
    head = _FOLD_RE.sub(" ", head.lstrip("\r\n"))
    lines = re.split(r"\r\n|\r|\n", head)
    words = lines[0].split()
    if not words or g.token_re.fullmatch(words[0]) is None or words[0] == "ACK":
        return None
    fields: list[tuple[str, str, str]] = []
    vias_readable = True
    seen = set()
    checks = {"from": parse_address, "to": parse_address, "call-id": parse_call_id,
              "cseq": parse_cseq}  # fmt: skip
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        entry = CANONICAL.get(name.strip(" \t").lower())
        if not colon or entry is None:
            continue
        key, value = entry[0], value.strip(" \t")
        try:
            if key == "via" and vias_readable:
                parse_via_list(value)
            elif key in checks and key not in seen:
                checks[key](value)
                seen.add(key)
            else:
                continue
        except SIPParseError:
            vias_readable = vias_readable and key != "via"
            continue
        fields.append((key, entry[1], value))
    if not any(field[0] == "via" for field in fields):
        via = _routable_via(lines)
        if via is None:
            return None
        fields.insert(0, ("via", "Via", via))
    return Request(words[0], words[1] if len(words) > 1 else "", Headers._trusted(fields))
