# -*- test-case-name: tests.sip.test_fields -*-
"""
Typed header field values: L{Via}, L{CSeq}, the generic C{;param} list
(L{Params}) and the scalar fields the transaction layer trusts (Call-ID,
Max-Forwards, Content-Type).

Every parser here takes one header field value that is already unfolded and
trimmed, and raises L{SIPParseError} (status 400) when it is malformed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

from roomkit_sip.sip import _grammar as g
from roomkit_sip.sip._grammar import format_host
from roomkit_sip.sip._grammar import quote_string as quote_string  # re-exported
from roomkit_sip.sip._grammar import unquote_string as unquote_string  # re-exported
from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.headers import split_list

_ParamItems = Iterable[tuple[str, "str | None"]] | Mapping[str, "str | None"]


class Params:
    """
    An immutable, ordered list of C{;name[=value]} parameters.

    Names are case-insensitive (RFC 3261 §7.3.1); values are kept as written
    (a quoted-string keeps its quotes) and compared exactly.  A parameter
    without a value has the value C{None}.
    """

    __slots__ = ("_items",)

    def __init__(self, items: _ParamItems = ()) -> None:
        if isinstance(items, Mapping):
            items = items.items()
        self._items: tuple[tuple[str, str | None], ...] = tuple(
            (str(name), None if value is None else str(value)) for name, value in items
        )

    @classmethod
    def _trusted(cls, items: tuple[tuple[str, str | None], ...]) -> Params:
        params = cls.__new__(cls)
        params._items = items
        return params

    def get(self, name: str, default: str | None = None) -> str | None:
        """
        The value of the first parameter called C{name} (C{None} also when it
        has no value: use C{in} to tell absent from valueless).
        """
        lower = name.lower()
        for key, value in self._items:
            if key == name or key.lower() == lower:  # the usual spelling first
                return value
        return default

    def with_param(self, name: str, value: str | None) -> Params:
        """
        A copy with C{name} set to C{value}, in place if present, else last.
        """
        lower = name.lower()
        items = list(self._items)
        for i, (key, _) in enumerate(items):
            if key.lower() == lower:
                items[i] = (key, value)
                return Params._trusted(tuple(items))
        return Params._trusted((*self._items, (name, value)))

    def without(self, name: str) -> Params:
        """
        A copy without any parameter called C{name}.
        """
        lower = name.lower()
        return Params._trusted(tuple(item for item in self._items if item[0].lower() != lower))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        lower = name.lower()
        return any(key.lower() == lower for key, _ in self._items)

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def _folded(self) -> tuple[tuple[str, str | None], ...]:
        return tuple((key.lower(), value) for key, value in self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Params):
            return NotImplemented
        return self._folded() == other._folded()

    def __hash__(self) -> int:
        return hash(self._folded())

    def __str__(self) -> str:
        return "".join(
            f";{key}" if value is None else f";{key}={value}" for key, value in self._items
        )

    def __repr__(self) -> str:
        return f"Params({list(self._items)!r})"


EMPTY_PARAMS = Params()


def _pairs(found: list[tuple[str, str]]) -> Params:
    # findall gives "" for a missing value; the grammar has no empty values.
    return Params._trusted(tuple([(n, v) if v else (n, None) for n, v in found]))


def parse_params(text: str) -> Params:
    """
    Parse C{*( SEMI generic-param )} (RFC 3261 §25.1), e.g. the tail of a
    From or Contact value after the address.
    """
    if not text:
        return EMPTY_PARAMS
    if not g.params_re.fullmatch(text):
        raise SIPParseError(detail="malformed parameter list")
    return _pairs(g.param_re.findall(text))


def check_params(params: Params, value: re.Pattern[str]) -> None:
    """
    Refuse to write parameters that would not read back as themselves.

    @param value: the grammar of a value (e.g. C{gen-value}).
    @raise ValueError: a name that is not a token or a value C{value} rejects.
    """
    for name, text in params:
        if g.token_re.fullmatch(name) is None or (
            text is not None and value.fullmatch(text) is None
        ):
            raise ValueError(f"cannot write parameter {name!r}={text!r}")


def _port(text: str | None) -> int | None:
    if text is None:
        return None
    port = int(text)
    if port > 65535:
        raise SIPParseError(detail="port out of range")
    return port


_VIA_VALUE_RE = re.compile(rf"{g.IPV6}|{g.GEN_VALUE}")

# via-parm = sent-protocol LWS sent-by *( SEMI via-params )
# sent-protocol = protocol-name SLASH protocol-version SLASH transport
# protocol-name = "SIP" / token ; protocol-version = token
# transport = "UDP" / "TCP" / "TLS" / "SCTP" / other-transport
# sent-by = host [ COLON port ] ; COLON = SWS ":" SWS ; SLASH = SWS "/" SWS
_VIA_RE = re.compile(
    rf"({g.TOKEN})[ \t]*/[ \t]*({g.TOKEN})[ \t]*/[ \t]*({g.TOKEN})[ \t]+"
    rf"({g.HOST})(?:[ \t]*:[ \t]*([0-9]{{1,5}}))?((?:{g.VIA_PARAM})*)[ \t]*"
)


@dataclass(frozen=True, slots=True)
class Via:
    """
    One Via header field value (RFC 3261 §20.42, §18.2.1; RFC 3581).

    @ivar transport: upper-case transport token (C{UDP}, C{TCP}, C{TLS}...).
    @ivar host: the sent-by host; an IPv6 address without its brackets.
    @ivar port: the sent-by port, C{None} when absent (not 5060: an absent port
        is resolved by the transport layer, §18.2.2).
    @ivar params: the via-params in order.
    @ivar protocol: C{"SIP/2.0"} unless the sender wrote something else.
    """

    transport: str
    host: str
    port: int | None = None
    params: Params = EMPTY_PARAMS
    protocol: str = "SIP/2.0"

    def __post_init__(self) -> None:
        if not isinstance(self.params, Params):
            object.__setattr__(self, "params", Params(self.params))

    @property
    def branch(self) -> str | None:
        """
        The transaction identifier (§8.1.1.7); RFC 3261 branches start with
        C{z9hG4bK}, older ones need §17.2.3's RFC 2543 matching.
        """
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        """
        The source address a server saw (§18.2.1), brackets removed.
        """
        value = self.params.get("received")
        if value is not None and value.startswith("["):
            return value[1:-1]
        return value

    @property
    def rport(self) -> int | bool | None:
        """
        RFC 3581 C{rport}: C{None} when absent, C{True} when present without a
        value (the client asks for it), the port number once filled in.
        """
        params = self.params
        if "rport" not in params:
            return None
        value = params.get("rport")
        return True if value is None else int(value)

    @property
    def sent_by(self) -> tuple[str, int | None]:
        """
        C{(host, port)} as the client wrote them.
        """
        return self.host, self.port

    def with_params(self, **params: str | int | bool | None) -> Via:
        """
        A copy with parameters set: a string or number sets the value, C{True}
        sets a parameter without value (C{rport=True}), C{None} removes it.
        """
        result = self.params
        for name, value in params.items():
            if value is None or value is False:
                result = result.without(name)
            elif value is True:
                result = result.with_param(name, None)
            else:
                result = result.with_param(name, str(value))
        return replace(self, params=result)

    def __str__(self) -> str:
        """
        The via-parm as written in a Via header field.

        @raise ValueError: the fields cannot make a well-formed via-parm (the
            constructor does not check, so that parsing stays cheap).
        """
        port = "" if self.port is None else f":{self.port}"
        text = f"{self.protocol}/{self.transport} {format_host(self.host)}{port}{self.params}"
        check_params(self.params, _VIA_VALUE_RE)
        try:
            parse_via(text)
        except SIPParseError as e:
            raise ValueError(f"cannot write Via {text!r}: {e.detail}") from None
        return text


def parse_via(text: str) -> Via:
    """
    Parse one via-parm (one element of a Via header field value).
    """
    match = _VIA_RE.fullmatch(text)
    if match is None:
        raise SIPParseError(detail="malformed Via")
    name, version, transport, host, port, rest = match.group(1, 2, 3, 4, 5, 6)
    if rest:
        params = _pairs(g.via_param_re.findall(rest))
        for key, value in params._items:
            check = _VIA_CHECKS.get(key.lower())
            if check is not None and not check(value):
                raise SIPParseError(detail=f"malformed Via {key.lower()} parameter")
    else:
        params = EMPTY_PARAMS
    if host[0] == "[":
        host = host[1:-1]
    if name == "SIP" and version == "2.0":
        protocol = "SIP/2.0"
    else:
        protocol = f"{name.upper()}/{version}"
    return Via(transport.upper(), host, _port(port), params, protocol)


def _is_digits(value: str | None, limit: int) -> bool:
    return value is not None and value.isascii() and value.isdigit() and int(value) <= limit


def _is_address(value: str | None) -> bool:
    if value is None:
        return False
    if value[0] == "[":
        value = value[1:-1]
    return g.ipv4_re.fullmatch(value) is not None or g.ipv6_re.fullmatch(value) is not None


# Values the generic via-extension syntax allows but these parameters do not:
# via-branch = "branch" EQUAL token ; via-ttl = "ttl" EQUAL ttl (1*3DIGIT)
# via-received = "received" EQUAL (IPv4address / IPv6address)
# via-maddr = "maddr" EQUAL host ; response-port = "rport" [EQUAL 1*DIGIT] (RFC 3581)
_VIA_CHECKS = {
    "branch": lambda v: v is not None and v[0] != '"' and v[0] != "[" and ":" not in v,
    "received": _is_address,
    "rport": lambda v: v is None or _is_digits(v, 65535),
    "ttl": lambda v: _is_digits(v, 255),
    "maddr": lambda v: v is not None and g.host_re.fullmatch(v) is not None,
}


def parse_via_list(value: str) -> list[Via]:
    """
    Parse a Via header field line, which may hold several comma-separated
    via-parms (§7.3.1); an empty element is an error.
    """
    return [parse_via(part) for part in split_list(value)]


@dataclass(frozen=True, slots=True)
class CSeq:
    """
    The CSeq header field (RFC 3261 §20.16): a sequence number below 2**31
    (§8.1.1.5) and the method it belongs to.
    """

    seq: int
    method: str

    def __str__(self) -> str:
        """
        @raise ValueError: a number outside 0 to 2**31-1 or a method that is
            not a token.
        """
        if not 0 <= self.seq < 2**31 or g.token_re.fullmatch(self.method) is None:
            raise ValueError(f"cannot write CSeq {self.seq!r} {self.method!r}")
        return f"{self.seq} {self.method}"


# CSeq = "CSeq" HCOLON 1*DIGIT LWS Method
_CSEQ_RE = re.compile(rf"([0-9]+)[ \t]+({g.TOKEN})")


def parse_cseq(value: str) -> CSeq:
    """
    Parse a CSeq value; the number must be below 2**31 (§8.1.1.5).
    """
    match = _CSEQ_RE.fullmatch(value)
    if match is None:
        raise SIPParseError(detail="malformed CSeq")
    digits, method = match.groups()
    if len(digits.lstrip("0")) > 10 or int(digits) >= 2**31:
        raise SIPParseError(detail="CSeq number out of range")
    return CSeq(int(digits), method)


def parse_call_id(value: str) -> str:
    """
    Validate a Call-ID value (C{callid = word [ "@" word ]}, §25.1).
    """
    if g.callid_re.fullmatch(value) is None:
        raise SIPParseError(detail="malformed Call-ID")
    return value


def parse_max_forwards(value: str) -> int:
    """
    Parse Max-Forwards: C{1*DIGIT}, 0 to 255 (§20.22).
    """
    if not (value.isascii() and value.isdigit()) or len(value.lstrip("0")) > 3:
        raise SIPParseError(detail="malformed Max-Forwards")
    hops = int(value)
    if hops > 255:
        raise SIPParseError(detail="Max-Forwards out of range")
    return hops


# media-type = m-type SLASH m-subtype *(SEMI m-parameter)
# m-parameter = m-attribute EQUAL m-value ; m-value = token / quoted-string
_MEDIA_TYPE_RE = re.compile(
    rf"({g.TOKEN})[ \t]*/[ \t]*({g.TOKEN})"
    rf"(?:[ \t]*;[ \t]*{g.TOKEN}[ \t]*=[ \t]*(?:{g.TOKEN}|{g.QUOTED}))*"
)


def parse_media_type(value: str) -> str:
    """
    Parse a Content-Type value (§20.15).

    @return: C{"type/subtype"} in lower case (media types are
        case-insensitive); the parameters stay in the header value.
    """
    match = _MEDIA_TYPE_RE.fullmatch(value)
    if match is None:
        raise SIPParseError(detail="malformed Content-Type")
    return f"{match.group(1)}/{match.group(2)}".lower()
