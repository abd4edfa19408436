# -*- test-case-name: tests.sip.test_uri -*-
"""
URIs and addresses: L{SipURI} (RFC 3261 §19.1), L{TelURI} (RFC 3966),
L{AbsoluteURI} for every other scheme, and L{Address} (name-addr /
addr-spec, §20.10).

A parsed URI remembers the text it came from and serialises back to it, so
copying a URI from one message to another never changes its bytes; its fields
hold the decoded values, which is what comparisons (§19.1.4) and callers want.
URIs refuse, when constructed, values their grammar cannot write; an
L{Address} checks its parameters when written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Union
from urllib.parse import quote, unquote

from roomkit_sip.sip import _grammar as g
from roomkit_sip.sip._grammar import format_host, quote_string, unquote_string
from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.fields import (
    EMPTY_PARAMS,
    Params,
    check_params,
    parse_params,
)


def _is_host(host: str) -> bool:
    """Whether C{host} is a hostname, an IPv4 address or a bare IPv6 address."""
    if host[:1] == "[":
        return False
    return g.host_re.fullmatch(host) is not None or g.ipv6_re.fullmatch(host) is not None


def _unescape(text: str) -> str:
    return unquote(text, errors="surrogateescape") if "%" in text else text


def _escape(text: str, safe: str) -> str:
    return quote(text, safe=safe, errors="surrogateescape")


def _bad(what: str) -> SIPParseError:
    return SIPParseError(detail=f"malformed {what}")


@dataclass(frozen=True, slots=True, eq=False, kw_only=True)
class SipURI:
    """
    A C{sip:} or C{sips:} URI (RFC 3261 §19.1.1).

    @ivar user: the user part, %-escapes decoded; C{None} when absent.
    @ivar password: likewise; C{None} when absent.
    @ivar host: a hostname or IP address; IPv6 without its brackets.
    @ivar port: C{None} when absent (an absent port is not 5060, §19.1.4).
    @ivar params: the uri-parameters, names and values decoded.
    @ivar headers: the C{?name=value} header components, decoded.

    Equality follows §19.1.4: user and password case-sensitive, host
    case-insensitive, parameters present in both must match (values compared
    case-insensitively), user/ttl/method/maddr/transport present in only one
    never match, header components must all match.  One simplification: an
    escaped reserved character compares equal to the literal character.
    """

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str
    port: int | None = None
    params: Params = EMPTY_PARAMS
    headers: tuple[tuple[str, str], ...] = ()
    _text: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.params, Params):
            object.__setattr__(self, "params", Params(self.params))
        if not isinstance(self.headers, tuple):
            object.__setattr__(self, "headers", tuple(self.headers))
        # What the grammar cannot write: userinfo = user [ ":" password ] "@".
        if self.scheme not in ("sip", "sips"):
            raise ValueError(f"not a SIP URI scheme: {self.scheme!r}")
        if self.user == "" or (self.password is not None and self.user is None):
            raise ValueError("a SIP URI password needs a non-empty user")
        if not (_is_host(self.host) and (self.port is None or 0 <= self.port <= 65535)):
            raise ValueError(f"invalid SIP URI host or port: {self.host!r}, {self.port!r}")

    @property
    def transport(self) -> str | None:
        """The C{transport} parameter in lower case, or C{None}."""
        value = self.params.get("transport")
        return None if value is None else value.lower()

    @property
    def lr(self) -> bool:
        """Whether the loose-routing flag is present (§19.1.1, §16.12)."""
        return "lr" in self.params

    @property
    def maddr(self) -> str | None:
        """The C{maddr} parameter, or C{None}."""
        return self.params.get("maddr")

    def _param_key(self) -> dict[str, str | None]:
        return {
            name.lower(): None if value is None else value.lower() for name, value in self.params
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SipURI):
            return NotImplemented
        if (
            self.scheme != other.scheme
            or self.user != other.user
            or self.password != other.password
            or self.host.lower() != other.host.lower()
            or self.port != other.port
        ):
            return False
        mine, theirs = self._param_key(), other._param_key()
        for name in mine.keys() | theirs.keys():
            if name in mine and name in theirs:
                if mine[name] != theirs[name]:
                    return False
            elif name in ("user", "ttl", "method", "maddr", "transport"):
                return False
        return sorted((n.lower(), v) for n, v in self.headers) == sorted(
            (n.lower(), v) for n, v in other.headers
        )

    def __hash__(self) -> int:
        return hash((self.scheme, self.user, self.password, self.host.lower(), self.port))

    def __str__(self) -> str:
        if self._text is not None:
            return self._text
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(_escape(self.user, g.USER_SAFE))
            if self.password is not None:
                parts += [":", _escape(self.password, g.PASSWORD_SAFE)]
            parts.append("@")
        parts.append(format_host(self.host))
        if self.port is not None:
            parts.append(f":{self.port}")
        for name, value in self.params:
            parts += [";", _escape(name, g.PARAM_SAFE)]
            if value is not None:
                parts += ["=", _escape(value, g.PARAM_SAFE)]
        if self.headers:
            parts.append("?")
            parts.append(
                "&".join(
                    f"{_escape(n, g.HEADER_SAFE)}={_escape(v, g.HEADER_SAFE)}"
                    for n, v in self.headers
                )
            )
        text = "".join(parts)
        object.__setattr__(self, "_text", text)
        return text


@dataclass(frozen=True, slots=True, eq=False)
class TelURI:
    """
    A C{tel:} URI (RFC 3966).

    @ivar number: the subscriber number as written, visual separators
        included; global numbers start with C{+}.
    @ivar params: C{phone-context}, C{ext}, C{isub} and other parameters,
        as written.

    Equality follows RFC 3966 §4: visual separators are ignored, parameters
    are compared by name regardless of order, all case-insensitively.
    Local numbers should carry C{phone-context} (RFC 3966 §5.1.5); its absence
    is accepted here and left to routing policy.
    """

    number: str
    params: Params = EMPTY_PARAMS

    def __post_init__(self) -> None:
        if not isinstance(self.params, Params):
            object.__setattr__(self, "params", Params(self.params))
        if g.tel_uri_re.fullmatch(str(self)) is None:
            raise ValueError(f"invalid tel URI: {str(self)!r}")

    @property
    def scheme(self) -> str:
        return "tel"

    @property
    def is_global(self) -> bool:
        """Whether the number is a global (E.164, C{+}-prefixed) number."""
        return self.number.startswith("+")

    @property
    def phone_context(self) -> str | None:
        """The C{phone-context} of a local number, or C{None}."""
        return self.params.get("phone-context")

    def _key(self) -> tuple[str, frozenset[tuple[str, str | None]]]:
        digits = "".join(c for c in self.number if c not in "-.()").lower()
        params = frozenset(
            (name.lower(), None if value is None else value.lower()) for name, value in self.params
        )
        return digits, params

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TelURI):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return f"tel:{self.number}{self.params}"


@dataclass(frozen=True, slots=True, eq=False)
class AbsoluteURI:
    """
    A URI of any other scheme (§25.1 absoluteURI), kept opaque.  A UAS that
    receives one as a Request-URI answers 416 (§8.2.2.1); in From, To or
    Contact it is legal and simply carried.

    @ivar scheme: the scheme in lower case.
    @ivar rest: everything after the first colon.
    """

    scheme: str
    rest: str

    def __post_init__(self) -> None:
        if g.absolute_uri_re.fullmatch(str(self)) is None:
            raise ValueError(f"invalid URI: {str(self)!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AbsoluteURI):
            return NotImplemented
        return self.scheme.lower() == other.scheme.lower() and self.rest == other.rest

    def __hash__(self) -> int:
        return hash((self.scheme.lower(), self.rest))

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


URI = Union[SipURI, TelURI, AbsoluteURI]  # noqa: UP007 (a runtime alias)


#: URIs up to this length are memoised (L{parse_uri}); longer ones, rare in
#: real traffic, are parsed each time so the cache stays small (at most
#: 2048 entries of 256 characters) whatever a peer sends.
_CACHED_URI_LENGTH = 256


def parse_uri(text: str) -> URI:
    """
    Parse a URI by scheme: C{sip}/C{sips}, C{tel}, or any other scheme.

    URIs are immutable values and the same few (our own address, the trunk's,
    the dialled numbers) recur in every message of every call, so results are
    memoised by text in a bounded cache; errors are not cached.

    @raise SIPParseError: (400) C{text} is not a well-formed URI of its
        scheme, e.g. an IPv6 host without brackets (RFC 5118 §4.2).
    """
    if len(text) <= _CACHED_URI_LENGTH:
        return _parse_uri_cached(text)
    return _parse_uri(text)


def _parse_uri(text: str) -> URI:
    scheme = text.partition(":")[0].lower()
    if scheme == "sip" or scheme == "sips":
        return _parse_sip(text)
    if scheme == "tel":
        match = g.tel_uri_re.fullmatch(text)
        if match is None or ("%" in text and g.bad_escape_re.search(text)):
            raise _bad("tel URI")
        params = match.group(2)
        return TelURI(
            match.group(1),
            Params._trusted(
                tuple(
                    (n, v if sep else None)
                    for n, sep, v in (p.partition("=") for p in params.split(";")[1:])
                )
            )
            if params
            else EMPTY_PARAMS,
        )
    match = g.absolute_uri_re.fullmatch(text)
    if match is None or ("%" in text and g.bad_escape_re.search(text)):
        raise _bad("URI")
    return AbsoluteURI(match.group(1).lower(), match.group(2))


_parse_uri_cached = lru_cache(maxsize=2048)(_parse_uri)


def _parse_sip(text: str) -> SipURI:
    match = g.sip_uri_re.fullmatch(text)
    if match is None or ("%" in text and g.bad_escape_re.search(text)):
        raise _bad("SIP URI")
    scheme, user, password, host, port, params, headers = match.groups()
    if port is not None and int(port) > 65535:
        raise _bad("SIP URI port")
    if host[0] == "[":
        host = host[1:-1]
    # The grammar has just been checked: fill the slots without the
    # constructor's validation, which would check it all again.
    uri = object.__new__(SipURI)
    _set(uri, "scheme", scheme.lower())
    _set(uri, "user", None if user is None else _unescape(user))
    _set(uri, "password", None if password is None else _unescape(password))
    _set(uri, "host", host)
    _set(uri, "port", None if port is None else int(port))
    _set(uri, "params", _uri_params(params) if params else EMPTY_PARAMS)
    _set(
        uri,
        "headers",
        tuple(
            (_unescape(n), _unescape(v))
            for n, _, v in (h.partition("=") for h in headers.split("&"))
        )
        if headers
        else (),
    )
    _set(uri, "_text", text)
    return uri


_set = object.__setattr__


def _uri_params(text: str) -> Params:
    items = []
    for param in text.split(";")[1:]:
        name, sep, value = param.partition("=")
        items.append((_unescape(name), _unescape(value) if sep else None))
    return Params._trusted(tuple(items))


@dataclass(frozen=True, slots=True)
class Address:
    """
    A name-addr or addr-spec with its header parameters: the value of From,
    To, Contact, Route, Record-Route... (RFC 3261 §20.10, §20.20, §20.39).

    @ivar display_name: the display name, unquoted and unescaped; C{None} when
        absent (C{""} for an explicit C{""}).
    @ivar uri: the address; a string given here is parsed with L{parse_uri}.
    @ivar params: header parameters (C{tag}, C{expires}, C{q}...), values as
        written.
    """

    display_name: str | None
    uri: URI
    params: Params = EMPTY_PARAMS

    def __post_init__(self) -> None:
        if isinstance(self.uri, str):
            object.__setattr__(self, "uri", parse_uri(self.uri))
        if not isinstance(self.params, Params):
            object.__setattr__(self, "params", Params(self.params))

    @property
    def tag(self) -> str | None:
        """The C{tag} parameter (§19.3), or C{None}."""
        return self.params.get("tag")

    def with_tag(self, tag: str) -> Address:
        """A copy whose C{tag} parameter is C{tag}."""
        return replace(self, params=self.params.with_param("tag", tag))

    def __str__(self) -> str:
        """
        The name-addr form.

        @raise ValueError: a display name with CR or LF, or parameters that
            are not C{generic-param}s.
        """
        display = "" if self.display_name is None else quote_string(self.display_name) + " "
        check_params(self.params, g.gen_value_re)
        return f"{display}<{self.uri}>{self.params}"


def parse_address(value: str) -> Address:
    """
    Parse C{( name-addr / addr-spec ) *( SEMI generic-param )}.

    In the addr-spec form the URI ends at the first semicolon and may contain
    no comma, question mark or whitespace: such URIs must be enclosed in
    C{<>} (§20.10), which RFC 4475 §3.1.2.13 and §3.1.2.14 test.
    """
    if "<" in value:
        match = g.name_addr_re.fullmatch(value)
        if match is None:
            raise _bad("name-addr")
        quoted, tokens, uri_text, rest = match.groups()
        display = unquote_string(quoted) if quoted is not None else tokens
        return Address(display, parse_uri(uri_text), parse_params(rest))
    uri_text, semi, rest = value.partition(";")
    uri_text = uri_text.rstrip(" \t")
    if not uri_text or any(c in uri_text for c in ' \t,?"'):
        raise _bad("addr-spec")
    return Address(None, parse_uri(uri_text), parse_params(semi + rest))
