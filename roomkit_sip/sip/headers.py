# -*- test-case-name: tests.sip.test_headers -*-
"""
L{Headers}: the header fields of one SIP message, in arrival order.

Names are case-insensitive and compact forms are expanded (RFC 3261 §7.3.1,
§7.3.3).  Values are kept as received (unfolded and trimmed), one entry per
header field line, so a message serialises back to what was read; comma lists
are split only when asked for, and only for header fields whose grammar is a
comma-separated list (§7.3.1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from roomkit_sip.sip import _grammar

_T = TypeVar("_T")

# RFC capitalisation of the names we know.  Lookup is by lower-case name.
_KNOWN_NAMES = (
    "Accept Accept-Contact Accept-Encoding Accept-Language Accept-Resource-Priority "
    "Alert-Info Allow Allow-Events Answer-Mode Authentication-Info Authorization "
    "Call-ID Call-Info Contact Content-Disposition Content-Encoding Content-ID "
    "Content-Language Content-Length Content-Type CSeq Date Diversion Error-Info "
    "Event Expires Feature-Caps Flow-Timer From Geolocation History-Info Identity "
    "Identity-Info In-Reply-To Info-Package Join Max-Breadth Max-Forwards "
    "MIME-Version Min-Expires Min-SE Organization P-Asserted-Identity "
    "P-Preferred-Identity Path Priority Privacy Proxy-Authenticate "
    "Proxy-Authorization Proxy-Require RAck Reason Record-Route Recv-Info "
    "Refer-Sub Refer-To Referred-By Reject-Contact Replaces Reply-To "
    "Request-Disposition Require Resource-Priority Retry-After Route RSeq "
    "Security-Client Security-Server Security-Verify Server Service-Route "
    "Session-Expires Session-ID SIP-ETag SIP-If-Match Subject Subscription-State "
    "Supported Target-Dialog Timestamp To Unsupported User-Agent User-to-User Via "
    "Warning WWW-Authenticate"
).split()

# Compact forms: RFC 3261 §7.3.3 (c e f i k l m s t v) and the IANA "Header
# Fields" registry: a b d j (RFC 3841), n y (RFC 4474), o u (RFC 6665),
# r (RFC 3515), x (RFC 4028).
COMPACT_FORMS = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

#: Header fields whose value is a comma-separated list (RFC 3261 §7.3.1: only
#: these may be split into, or combined from, several lines).  Anything else,
#: notably WWW-Authenticate, Authorization, Proxy-Authenticate,
#: Proxy-Authorization, Authentication-Info and Date, whose values contain
#: commas that separate nothing, and every unknown header field, is never split.
LIST_HEADERS = frozenset(
    name.lower()
    for name in (
        "Accept Accept-Contact Accept-Encoding Accept-Language Accept-Resource-Priority "
        "Alert-Info Allow Allow-Events Call-Info Contact Content-Encoding "
        "Content-Language Diversion Error-Info Feature-Caps Geolocation History-Info "
        "In-Reply-To P-Asserted-Identity P-Preferred-Identity Path Proxy-Require Reason "
        "Record-Route Recv-Info Reject-Contact Request-Disposition Require "
        "Resource-Priority Route Security-Client Security-Server Security-Verify "
        "Service-Route Supported Unsupported Via Warning"
    ).split()
)

#: Lower-case name or compact form -> (lookup key, canonical name).  The
#: canonical and upper-case spellings are keys too, so the parser resolves the
#: names real traffic uses without lower-casing them first.
CANONICAL: dict[str, tuple[str, str]] = {}
for _name in _KNOWN_NAMES:
    CANONICAL[_name] = CANONICAL[_name.lower()] = (_name.lower(), _name)
for _short, _full in COMPACT_FORMS.items():
    CANONICAL[_short] = CANONICAL[_short.upper()] = (_full.lower(), _full)
del _name, _short, _full


def canonical(name: str) -> tuple[str, str]:
    """
    Resolve a header field name.

    @param name: a name as written, in any case, full or compact.
    @return: C{(key, canonical)}: the lower-case lookup key and the name to
        store (RFC capitalisation if known, else C{name} as given).
    @raise ValueError: C{name} is not a token (RFC 3261 §7.3.1).
    """
    entry = CANONICAL.get(name.lower())
    if entry is not None:
        return entry
    if not _grammar.token_re.fullmatch(name):
        raise ValueError(f"header field name is not a token: {name!r}")
    return name.lower(), name


def split_list(value: str) -> list[str]:
    """
    Split a comma-separated header field value into its elements.

    Commas inside quoted strings (with backslash escapes) or inside C{<>}
    separate nothing (RFC 3261 §7.3.1, §20).  Elements are trimmed; empty
    elements are kept so that a strict caller can reject them.
    """
    if "," not in value:
        return [value]
    if '"' not in value and "<" not in value:
        return [part.strip(" \t") for part in value.split(",")]
    parts = []
    start = 0
    quoted = angle = escaped = False
    for i, char in enumerate(value):
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "<":
            angle = True
        elif char == ">":
            angle = False
        elif char == "," and not angle:
            parts.append(value[start:i].strip(" \t"))
            start = i + 1
    parts.append(value[start:].strip(" \t"))
    return parts


def _check_value(value: object) -> str:
    text = str(value).strip(" \t")
    if "\r" in text or "\n" in text:
        raise ValueError("header field values cannot contain CR or LF")
    return text


class Headers:
    """
    An ordered, case-insensitive multimap of header fields.

    Each entry is one header field line: C{(name, value)} with the name in
    canonical form.  Content-Length is never stored: it is derived from the
    body when a message is serialised.  Equality compares names
    case-insensitively and values exactly, in order.
    """

    __slots__ = ("_fields", "_cache")

    def __init__(self, fields: Iterable[tuple[str, object]] = ()) -> None:
        #: (key, canonical name, value) per header field line.
        self._fields: list[tuple[str, str, str]] = []
        #: Typed values parsed from the current fields, by key; see L{_typed}.
        self._cache: dict[str, Any] = {}
        for name, value in fields:
            self.add(name, value)

    @classmethod
    def _trusted(cls, fields: list[tuple[str, str, str]]) -> Headers:
        """
        Wrap fields the parser has already validated and canonicalised.
        """
        headers = cls.__new__(cls)
        headers._fields = fields
        headers._cache = {}
        return headers

    @staticmethod
    def _key(name: str) -> str:
        entry = CANONICAL.get(name.lower())
        return entry[0] if entry is not None else name.lower()

    def get(self, name: str) -> str | None:
        """
        The first value of C{name}, or C{None}.  For list header fields this
        is the first non-empty element of the list (the first of L{get_all}).
        """
        key = self._key(name)
        if key in LIST_HEADERS:
            for field in self._fields:
                if field[0] == key:
                    for part in split_list(field[2]):
                        if part:
                            return part
            return None
        for field in self._fields:
            if field[0] == key:
                return field[2]
        return None

    def get_all(self, name: str) -> list[str]:
        """
        Every value of C{name} in order; list header fields are split into
        their elements (empty elements dropped).
        """
        key = self._key(name)
        rows = [field[2] for field in self._fields if field[0] == key]
        if key not in LIST_HEADERS:
            return rows
        return [part for row in rows for part in split_list(row) if part]

    def rows(self, name: str) -> list[str]:
        """
        The values of C{name} exactly as stored, one per header field line,
        without splitting.
        """
        key = self._key(name)
        return [field[2] for field in self._fields if field[0] == key]

    def add(self, name: str, value: object, *, first: bool = False) -> None:
        """
        Append a header field line (or put it first, as a new top C{Via}).

        @param value: the value, or any object whose C{str()} is one
            (L{Via}, L{Address}, L{CSeq}...).
        @raise ValueError: the name is not a token, the value contains CR or
            LF, or the name is Content-Length (it is derived from the body).
        """
        key, canon = canonical(name)
        if key == "content-length":
            raise ValueError("Content-Length is derived from the body")
        field = (key, canon, _check_value(value))
        if first:
            self._fields.insert(0, field)
        else:
            self._fields.append(field)
        self._cache.clear()

    def set(self, name: str, value: object) -> None:
        """
        Replace every C{name} line by one holding C{value}, where the first one
        was (or at the end).
        """
        key, canon = canonical(name)
        if key == "content-length":
            raise ValueError("Content-Length is derived from the body")
        field = (key, canon, _check_value(value))
        fields = self._fields
        for i, existing in enumerate(fields):
            if existing[0] == key:
                fields[i] = field
                fields[i + 1 :] = [f for f in fields[i + 1 :] if f[0] != key]
                break
        else:
            fields.append(field)
        self._cache.clear()

    def replace_first(self, name: str, value: object) -> None:
        """
        Replace the first value of C{name}, the one L{get} returns, and
        nothing else: for a list header field the first non-empty element,
        the other elements of its line kept in order; for any other field
        the first line's value.  Every header field line stays where it is,
        which L{set} does not promise (a new top C{Via}, RFC 3261 §18.2.1).
        Without a value to replace, C{value} is appended, as by L{add}.

        @raise ValueError: as for L{add}.
        """
        key, canon = canonical(name)
        if key == "content-length":
            raise ValueError("Content-Length is derived from the body")
        text = _check_value(value)
        self._cache.clear()
        fields = self._fields
        for i, (field_key, stored, row) in enumerate(fields):
            if field_key != key:
                continue
            if key not in LIST_HEADERS:
                fields[i] = (key, stored, text)
                return
            parts = split_list(row)
            for j, part in enumerate(parts):
                if part:
                    parts[j] = text
                    fields[i] = (key, stored, ", ".join(parts))
                    return
        fields.append((key, canon, text))

    def remove(self, name: str) -> int:
        """
        Remove every C{name} line.

        @return: how many lines were removed.
        """
        key = self._key(name)
        before = len(self._fields)
        self._fields = [field for field in self._fields if field[0] != key]
        self._cache.clear()
        return before - len(self._fields)

    def items(self) -> list[tuple[str, str]]:
        """
        Every header field line as C{(canonical name, value)}, in order.
        """
        return [(field[1], field[2]) for field in self._fields]

    def copy(self) -> Headers:
        """
        An independent copy (typed values already parsed are shared: they are
        immutable).
        """
        headers = Headers._trusted(list(self._fields))
        headers._cache = dict(self._cache)
        return headers

    def _typed(self, key: str, parse: Callable[[list[str]], _T]) -> _T:
        """
        Parse the lines of one header field into a typed value, once.

        The result is cached until the headers change, so the parser's eager
        validation and later accessors share one parse.

        @param key: the lower-case full name.
        @param parse: called with the raw lines of C{key} (possibly none).
        """
        try:
            return self._cache[key]  # type: ignore[no-any-return]
        except KeyError:
            pass
        value = parse([field[2] for field in self._fields if field[0] == key])
        self._cache[key] = value
        return value

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = self._key(name)
        return any(field[0] == key for field in self._fields)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items())

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        mine, theirs = self._fields, other._fields
        return len(mine) == len(theirs) and all(
            a[0] == b[0] and a[2] == b[2] for a, b in zip(mine, theirs)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"
