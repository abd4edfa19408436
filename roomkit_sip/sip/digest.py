# -*- test-case-name: tests.sip.test_digest -*-
"""
The vocabulary of SIP digest authentication (RFC 3261 §22.4, RFC 7616,
RFC 8760): hash algorithms, the request-digest, and the grammar of challenge
and credentials header I{values}.

Pure functions and frozen values only, independent of the message model: the
stateful halves built on it are L{roomkit_sip.auth.digest_server} (nonces,
verification) and L{roomkit_sip.auth.digest_client} (answers, nonce-counts).
Strings are hashed as UTF-8 (RFC 7616 §4).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import unquote

_HASHES = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}
_CANONICAL = {name.lower(): name for base in _HASHES for name in (base, base + "-sess")}
_HEX_LENGTH = {"MD5": 32, "SHA-256": 64, "SHA-512-256": 64}

#: Every algorithm name understood, plain and C{-sess} (RFC 7616 §6.1, RFC 8760 §2.1).
ALGORITHMS = tuple(_CANONICAL.values())


class DigestError(ValueError):
    """Credentials or a challenge that cannot be used as sent: a UAS answers 400."""


# -- algorithms -----------------------------------------------------------


def canonical_algorithm(name: str) -> str | None:
    """The registered spelling of C{name} (case-insensitive), or C{None} if unsupported."""
    return _CANONICAL.get(name.lower())


def split_algorithm(algorithm: str) -> tuple[str, bool]:
    """C{(hash name, is -sess)}: C{"sha-256-SESS"} gives C{("SHA-256", True)}.

    @raise DigestError: unsupported algorithm.
    """
    canonical = canonical_algorithm(algorithm)
    if canonical is None:
        raise DigestError(f"unsupported digest algorithm {algorithm!r}")
    sess = canonical.endswith("-sess")
    return (canonical[: -len("-sess")] if sess else canonical), sess


def _h(base: str, data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.new(_HASHES[base], data).hexdigest()


def compute_ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """C{H(username:realm:password)} (RFC 7616 §3.4.2), what a store may keep instead
    of the password.  For a C{-sess} algorithm this is still the plain HA1."""
    return _h(split_algorithm(algorithm)[0], f"{username}:{realm}:{password}")


def check_ha1(algorithm: str, ha1: str) -> str:
    """Validate a stored HA1 for C{algorithm} (a base name); return it lower-cased."""
    base, sess = split_algorithm(algorithm)
    if sess or not re.fullmatch(f"[0-9a-fA-F]{{{_HEX_LENGTH[base]}}}", ha1):
        raise ValueError(f"not a {algorithm} HA1: {ha1!r}")
    return ha1.lower()


def compute_response(
    algorithm: str,
    ha1: str,
    *,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """
    The request-digest of RFC 7616 §3.4.1 from a plain HA1.

    C{-sess} algorithms rehash HA1 with nonce and cnonce (§3.4.2); C{qop=None}
    is the RFC 2069 form C{H(HA1:nonce:HA2)} kept for RFC 3261 §22.4 backward
    compatibility; C{auth-int} hashes the body into HA2 (§3.4.3).
    """
    base, sess = split_algorithm(algorithm)
    if sess:
        if cnonce is None:
            raise DigestError(f"{algorithm} needs a cnonce")
        ha1 = _h(base, f"{ha1}:{nonce}:{cnonce}")
    if qop == "auth-int":
        ha2 = _h(base, f"{method}:{uri}:{_h(base, body)}")
    else:
        ha2 = _h(base, f"{method}:{uri}")
    if qop is None:
        return _h(base, f"{ha1}:{nonce}:{ha2}")
    return _h(base, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


# -- header values ----------------------------------------------------------

# RFC 7235 §2.1: auth-param = token BWS "=" BWS ( token / quoted-string ).
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[^\x00-\x08\x0a-\x1f\x7f])*"'
_PARAM = re.compile(rf"[ \t]*({_TOKEN})[ \t]*=[ \t]*({_TOKEN}|{_QUOTED})[ \t]*")
_SCHEME = re.compile(rf"({_TOKEN})(?:[ \t]+|$)")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*[ \t]*(?=,|$)")
_SEPARATORS = re.compile(r"[ \t,]*")
_HEX = re.compile(r"[0-9a-fA-F]+")


def _unquote(value: str) -> str:
    if value.startswith('"'):
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _quote(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"line break in a digest parameter: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_auth_header(value: str) -> list[tuple[str, dict[str, str]]]:
    """
    Split one header value into C{(scheme, params)} pairs.

    Several challenges may share a value (RFC 7235 §4.1), commas inside quotes
    are data, parameter names are case-insensitive and must not repeat
    (RFC 7235 §2.1).  A token68 (as in C{Basic}) is kept under the key C{""}.

    @raise DigestError: the value does not follow the grammar.
    """
    items: list[tuple[str, dict[str, str]]] = []
    pos, end = 0, len(value)
    while True:
        skipped = _SEPARATORS.match(value, pos)
        pos = skipped.end() if skipped else pos
        if pos >= end:
            return items
        param = _PARAM.match(value, pos)
        if param and items:
            name = param.group(1).lower()
            if name in items[-1][1]:
                raise DigestError(f"parameter {name!r} repeated")
            items[-1][1][name] = _unquote(param.group(2))
            pos = param.end()
            if pos < end and value[pos] != ",":
                raise DigestError(f"expected ',' at offset {pos} of {value!r}")
            continue
        scheme = _SCHEME.match(value, pos)
        if scheme is None:
            raise DigestError(f"unexpected {value[pos]!r} at offset {pos} of {value!r}")
        items.append((scheme.group(1), {}))
        pos = scheme.end()
        token68 = None if _PARAM.match(value, pos) else _TOKEN68.match(value, pos)
        if token68:
            items[-1][1][""] = token68.group().strip()
            pos = token68.end()


@dataclass(frozen=True)
class Challenge:
    """One C{Digest} challenge of a C{WWW-Authenticate}/C{Proxy-Authenticate} value."""

    realm: str
    nonce: str
    #: Canonical name when supported, else as received.
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False


def parse_challenges(value: str) -> list[Challenge]:
    """
    Every C{Digest} challenge in one header value; other schemes are skipped.

    @raise DigestError: malformed value, or a Digest challenge without realm or
        nonce (RFC 7616 §3.3).
    """
    challenges = []
    for scheme, params in parse_auth_header(value):
        if scheme.lower() != "digest":
            continue
        if "realm" not in params or not params.get("nonce"):
            raise DigestError("digest challenge without realm or nonce")
        algorithm = params.get("algorithm", "MD5")
        qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
        challenges.append(
            Challenge(
                realm=params["realm"],
                nonce=params["nonce"],
                algorithm=canonical_algorithm(algorithm) or algorithm,
                qop=qop,
                opaque=params.get("opaque"),
                stale=params.get("stale", "").lower() == "true",
            )
        )
    return challenges


def format_challenge(challenge: Challenge) -> str:
    """
    Serialise a challenge.  Only realm, nonce, opaque and qop are quoted: RFC
    7616 §3.3 forbids quoting the algorithm and stale tokens.
    """
    parts = [f"realm={_quote(challenge.realm)}", f"nonce={_quote(challenge.nonce)}"]
    if challenge.opaque is not None:
        parts.append(f"opaque={_quote(challenge.opaque)}")
    parts.append(f"algorithm={challenge.algorithm}")
    if challenge.qop:
        parts.append(f"qop={_quote(','.join(challenge.qop))}")
    if challenge.stale:
        parts.append("stale=true")
    return "Digest " + ", ".join(parts)


@dataclass(frozen=True)
class Credentials:
    """One C{Digest} answer from an C{Authorization}/C{Proxy-Authorization} value."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None


def _extended_username(value: str) -> str:
    # RFC 7616 §3.4.4 with RFC 8187 ext-value: UTF-8'[lang]'percent-encoded.
    charset, _, rest = value.partition("'")
    _, _, encoded = rest.partition("'")
    if charset.lower() != "utf-8" or "'" not in rest:
        raise DigestError(f"unsupported username* value {value!r}")
    try:
        return unquote(encoded, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise DigestError(f"username* is not UTF-8: {value!r}") from e


def parse_credentials(value: str) -> Credentials | None:
    """
    Parse one credentials value; C{None} if its scheme is not C{Digest}.

    @raise DigestError: malformed value or missing directive (RFC 7616 §3.4).
    """
    scheme = _SCHEME.match(value.lstrip())
    if scheme is None or scheme.group(1).lower() != "digest":
        return None
    items = parse_auth_header(value)
    if len(items) != 1:
        raise DigestError("one Authorization value must hold one credentials")
    params = items[0][1]
    if "username*" in params:
        if "username" in params:
            raise DigestError("both username and username* given")
        params["username"] = _extended_username(params["username*"])
    if params.get("userhash", "false").lower() != "false":
        raise DigestError("userhash was not offered")
    missing = [k for k in ("username", "realm", "nonce", "uri", "response") if k not in params]
    if missing:
        raise DigestError(f"credentials lack {', '.join(missing)}")
    qop, nc, cnonce = params.get("qop"), params.get("nc"), params.get("cnonce")
    if qop is not None:
        if nc is None or cnonce is None:
            raise DigestError("qop given without nc and cnonce")
        if len(nc) != 8 or not _HEX.fullmatch(nc) or int(nc, 16) == 0:
            raise DigestError(f"nc must be 8 hex digits above zero, not {nc!r}")
        qop = qop.lower()
    elif nc is not None or cnonce is not None:
        raise DigestError("nc or cnonce given without qop")
    if not _HEX.fullmatch(params["response"]):
        raise DigestError("response is not hexadecimal")
    algorithm = params.get("algorithm", "MD5")
    return Credentials(
        username=params["username"],
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=params["response"].lower(),
        algorithm=canonical_algorithm(algorithm) or algorithm,
        qop=qop,
        nc=nc.lower() if nc else None,
        cnonce=cnonce,
        opaque=params.get("opaque"),
    )


def format_credentials(credentials: Credentials) -> str:
    """Serialise credentials; qop, nc and algorithm are tokens (RFC 7616 §3.4)."""
    c = credentials
    parts = [
        f"username={_quote(c.username)}",
        f"realm={_quote(c.realm)}",
        f"nonce={_quote(c.nonce)}",
        f"uri={_quote(c.uri)}",
        f"response={_quote(c.response)}",
        f"algorithm={c.algorithm}",
    ]
    if c.opaque is not None:
        parts.append(f"opaque={_quote(c.opaque)}")
    if c.qop is not None:
        parts += [f"qop={c.qop}", f"nc={c.nc}", f"cnonce={_quote(c.cnonce or '')}"]
    return "Digest " + ", ".join(parts)
