# -*- test-case-name: tests.auth.test_digest_server -*-
"""
The server half of SIP digest: stateless nonces, challenges and verification.

Sans-IO like L{roomkit_sip.sip.digest}, which it builds on: no reactor, no
C{time}; callers pass C{now} (from C{IReactorTime.seconds()}).

A nonce is C{base64url(issued[8] | random[12] | mac[16])} with
C{mac = HMAC-SHA256(secret, issued | random | realm)} cut to 128 bits, so the
server keeps no table of issued nonces.  The client address is deliberately not
bound into it: carrier trunks often answer a challenge from another signalling
address of their pool, and NAT rebinding changes ports, so binding would turn
honest retries into failures.  Replays are stopped by the lifetime
(L{NONCE_LIFETIME}) and by L{NonceCounts}, which remembers the highest
nonce-count accepted per nonce.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import os
import re
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence

from roomkit_sip.sip.digest import (
    Challenge,
    Credentials,
    DigestError,
    canonical_algorithm,
    compute_ha1,
    compute_response,
    format_challenge,
    split_algorithm,
)
from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.uri import SipURI, parse_uri

#: Seconds a nonce stays valid; afterwards a correct answer earns C{stale=true}
#: (RFC 7616 §3.3).  Five minutes (Kamailio's default too) lets a REGISTER
#: refresh or a burst of calls reuse a nonce with rising nonce-counts.
NONCE_LIFETIME = 300.0
#: Nonces whose nonce-count is remembered at once: about 250 bytes each, so
#: at most ~12 MB; enough for ~160 authenticated requests a second.
MAX_TRACKED_NONCES = 50_000
#: What a server offers, most preferred first (RFC 8760 §2.4).
DEFAULT_ALGORITHMS = ("SHA-256", "MD5")

_NONCE = re.compile(r"[A-Za-z0-9_-]{48}")

#: A user's secret as an L{roomkit_sip.interfaces.IAuthProvider} returns it:
#: unknown (C{None}), the password, or C{{algorithm: HA1}}.
Secret = str | Mapping[str, str] | None


class Verdict(enum.Enum):
    """What L{DigestServer.verify} concluded about one set of credentials."""

    ACCEPT = "accept"
    #: Wrong response, or unknown user (indistinguishable on purpose): 403.
    REJECT = "reject"
    #: Right response for an expired nonce: challenge with C{stale=true}.
    STALE = "stale"
    #: Nonce not ours, opaque changed, realm or algorithm not offered: new challenge.
    RECHALLENGE = "rechallenge"
    #: Right response but a nonce-count not above the last one seen (RFC 7616
    #: §3.4): the nonce is spent but the client knows the password, so it earns
    #: C{stale=true} like an expired nonce (§3.3).
    REPLAY = "replay"
    #: The stored secret has no HA1 for the client's algorithm: challenge again
    #: with L{DigestServer.verifiable}.
    UNVERIFIABLE = "unverifiable"


class NonceCounts:
    """
    The highest nonce-count accepted per nonce, in bounded memory.

    Entries leave when their nonce expires or, at capacity, in the order they
    were first seen.  Evicting one raises a floor: a nonce issued at or before
    it and no longer remembered counts as spent.  So memory stays bounded and a
    replay is never let through; an honest client just gets C{stale=true}.
    """

    def __init__(self, lifetime: float, capacity: int) -> None:
        self._lifetime = lifetime
        self._capacity = capacity
        self._seen: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._floor = -1

    def __len__(self) -> int:
        return len(self._seen)

    def record(self, nonce: str, issued: int, nc: int, now: float) -> bool:
        """Accept C{nc} for C{nonce} if above every count seen; C{False} means replay."""
        while self._seen:
            first_issued = next(iter(self._seen.values()))[0]
            if first_issued + self._lifetime >= now:
                break
            self._seen.popitem(last=False)
        seen = self._seen.get(nonce)
        if seen is not None:
            highest = seen[1]
        else:
            highest = -1 if issued > self._floor else nc
        if nc <= highest:
            return False
        self._seen[nonce] = (issued, nc)
        while len(self._seen) > self._capacity:
            self._floor = max(self._floor, self._seen.popitem(last=False)[1][0])
        return True


def same_sip_host(digest_uri: str, request_uri: str) -> bool:
    """
    Whether C{digest_uri} names the same SIP server as C{request_uri}: same
    scheme, host and port (default ports filled in); user part and parameters
    may differ.

    RFC 2617 §3.2.2.5 asks for "the same resource", not the same string, and
    real UACs differ: SIPp, for one, signs the server's URI without the user
    part of the Request-URI.  Nothing is lost by the looser test: the answer
    still covers the URI the client signed, and nonce counts stop a replay
    elsewhere.  URIs that are not SIP/SIPS must match exactly.
    """
    if digest_uri == request_uri:
        return True
    try:
        signed, target = parse_uri(digest_uri), parse_uri(request_uri)
    except SIPParseError:
        return False
    if not (isinstance(signed, SipURI) and isinstance(target, SipURI)):
        return False
    return (signed.scheme, signed.host.lower(), _port(signed)) == (
        target.scheme,
        target.host.lower(),
        _port(target),
    )


def _port(uri: SipURI) -> int:
    return uri.port or (5061 if uri.scheme == "sips" else 5060)


class DigestServer:
    """
    Challenges and verification for one realm, as a UAS (401) or proxy (407).

    @param secret: HMAC key for nonces, at least 16 bytes.  Nonces survive a
        restart only if it does; otherwise clients simply get a new challenge.
    @param algorithms: offered in this order; answers in others are refused.
    @param allow_rfc2069: accept MD5 answers without qop, as RFC 3261 §22.4
        requires for RFC 2069 clients; such a nonce is single-use.
    @param uri_equal: compares digest-uri with the request-URI (RFC 7616
        §3.4.6); L{same_sip_host} by default.  Pass C{str.__eq__} for the
        strictest reading, or a looser test behind a proxy that rewrites the
        Request-URI.
    @param random: source of nonce bytes; injectable for tests.
    """

    def __init__(
        self,
        realm: str,
        secret: bytes,
        *,
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        proxy: bool = False,
        nonce_lifetime: float = NONCE_LIFETIME,
        max_tracked_nonces: int = MAX_TRACKED_NONCES,
        allow_rfc2069: bool = True,
        uri_equal: Callable[[str, str], bool] | None = None,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the nonce secret must be at least 16 bytes")
        canonical = [canonical_algorithm(a) for a in algorithms]
        if not canonical or None in canonical:
            raise ValueError(f"unsupported digest algorithms in {list(algorithms)!r}")
        self.realm = realm
        self.algorithms: tuple[str, ...] = tuple(a for a in canonical if a)
        self.proxy = proxy
        self._secret = secret
        self._lifetime = nonce_lifetime
        self._allow_rfc2069 = allow_rfc2069
        self._uri_equal = uri_equal or same_sip_host
        self._random = random
        self._counts = NonceCounts(nonce_lifetime, max_tracked_nonces)
        # Unknown users are checked against this so they cost what a wrong password costs.
        self._decoy = base64.b64encode(random(18)).decode()

    @property
    def status(self) -> int:
        """401 for a UAS, 407 for a proxy (RFC 3261 §22.2, §22.3)."""
        return 407 if self.proxy else 401

    @property
    def challenge_header(self) -> str:
        """C{WWW-Authenticate}, or C{Proxy-Authenticate} for a proxy."""
        return "Proxy-Authenticate" if self.proxy else "WWW-Authenticate"

    @property
    def credentials_header(self) -> str:
        """Where the answers come back: C{Authorization} or C{Proxy-Authorization}."""
        return "Proxy-Authorization" if self.proxy else "Authorization"

    def _mac(self, head: bytes) -> bytes:
        message = head + self.realm.encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:16]

    def _opaque(self, nonce: str) -> str:
        mac = hmac.new(self._secret, b"opaque|" + nonce.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:12]).decode()

    def issued_at(self, nonce: str) -> int | None:
        """When we issued C{nonce}, or C{None} if we did not (MAC checked in constant time)."""
        if not _NONCE.fullmatch(nonce):
            return None
        raw = base64.urlsafe_b64decode(nonce)
        if not hmac.compare_digest(raw[20:], self._mac(raw[:20])):
            return None
        return int(struct.unpack(">Q", raw[:8])[0])

    def challenge(
        self, now: float, *, stale: bool = False, algorithms: Iterable[str] | None = None
    ) -> list[tuple[str, str]]:
        """
        Header fields for a 401/407: one per algorithm, most preferred first,
        sharing one fresh nonce (RFC 8760 §2.4, RFC 7616 §3.7).
        """
        head = struct.pack(">Q", int(now)) + self._random(12)
        nonce = base64.urlsafe_b64encode(head + self._mac(head)).decode()
        opaque = self._opaque(nonce)
        offered = self.algorithms if algorithms is None else tuple(algorithms)
        return [
            (
                self.challenge_header,
                format_challenge(Challenge(self.realm, nonce, a, ("auth",), opaque, stale)),
            )
            for a in offered
        ]

    def screen(self, credentials: Credentials, request_uri: str, now: float) -> Verdict | None:
        """
        The checks that need no secret, so garbage never costs a lookup.

        @return: a final verdict, or C{None} when the secret must be consulted.
        @raise DigestError: the answer breaks the protocol (400).
        """
        c = credentials
        if c.algorithm not in self.algorithms or c.realm != self.realm:
            return Verdict.RECHALLENGE
        if c.qop is None:
            if not self._allow_rfc2069 or c.algorithm != "MD5":
                raise DigestError(f"qop is required with {c.algorithm}")
        elif c.qop != "auth":
            raise DigestError(f"qop {c.qop!r} was not offered")  # RFC 7616 §3.4
        if not self._uri_equal(c.uri, request_uri):
            # RFC 7616 §3.4.6; RFC 3261 §22.4 makes digest-uri the Request-URI.
            raise DigestError("digest uri does not match the Request-URI")
        issued = self.issued_at(c.nonce)
        if issued is None or issued > now + 1:
            return Verdict.RECHALLENGE
        if c.opaque is not None and not hmac.compare_digest(
            c.opaque.encode("utf-8"), self._opaque(c.nonce).encode()
        ):
            return Verdict.RECHALLENGE
        return None

    def verifiable(self, secret: Secret) -> tuple[str, ...]:
        """The offered algorithms C{secret} can verify, in offer order."""
        if not isinstance(secret, Mapping):
            return self.algorithms
        return tuple(a for a in self.algorithms if split_algorithm(a)[0] in secret)

    def verify(
        self,
        credentials: Credentials,
        secret: Secret,
        method: str,
        request_uri: str,
        now: float,
        body: bytes = b"",
    ) -> Verdict:
        """
        Decide on C{credentials} given the user's C{secret}.

        The nonce-count is recorded only for a correct answer, so forged
        requests cannot spend a client's counts; an expired nonce is judged
        only after the digest, so C{stale=true} is never given for a wrong
        password (RFC 7616 §3.3).

        @raise DigestError: see L{screen}.
        """
        early = self.screen(credentials, request_uri, now)
        if early is not None:
            return early
        c = credentials
        base = split_algorithm(c.algorithm)[0]
        if secret is None:
            ha1, known = compute_ha1(base, c.username, c.realm, self._decoy), False
        elif isinstance(secret, str):
            ha1, known = compute_ha1(base, c.username, c.realm, secret), True
        elif base in secret:
            ha1, known = secret[base].lower(), True
        else:
            return Verdict.UNVERIFIABLE
        expected = compute_response(
            c.algorithm,
            ha1,
            method=method,
            uri=c.uri,
            nonce=c.nonce,
            qop=c.qop,
            nc=c.nc,
            cnonce=c.cnonce,
            body=body,
        )
        if not hmac.compare_digest(expected, c.response) or not known:
            return Verdict.REJECT
        issued = self.issued_at(c.nonce) or 0
        if now - issued > self._lifetime:
            return Verdict.STALE
        # Without qop (RFC 2069) count 0 stands for the single permitted use.
        if not self._counts.record(c.nonce, issued, int(c.nc or "0", 16), now):
            return Verdict.REPLAY
        return Verdict.ACCEPT
