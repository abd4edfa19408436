# -*- test-case-name: tests.auth.test_digest_client -*-
"""
The client half of SIP digest: answering 401/407 challenges on outbound
INVITE and REGISTER, and counting nonce uses across requests.

Sans-IO like L{roomkit_sip.sip.digest}: no reactor, no clock; randomness for
the cnonce is injectable.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from roomkit_sip.sip.digest import (
    Challenge,
    Credentials,
    DigestError,
    canonical_algorithm,
    check_ha1,
    compute_ha1,
    compute_response,
    format_credentials,
    parse_challenges,
    parse_credentials,
    split_algorithm,
)

# The local policy RFC 7616 §3.7 allows: strongest hash first whatever the
# server's order, so a reordering middlebox cannot downgrade us to MD5.
# Equal hashes keep the server's order (RFC 8760 §2.4: topmost first).
_PREFERENCE = ("SHA-512-256", "SHA-256", "MD5")


@dataclass
class _Answering:
    challenge: Challenge
    nc: int = 0


class DigestClient:
    """
    One UAC identity's digest state: per realm, the challenge being answered
    and how many requests have used its nonce (RFC 7616 §3.4: nc).

    Use one per registration or outbound call and per header kind (401
    answers go in C{Authorization}, 407 answers in C{Proxy-Authorization},
    RFC 3261 §22.2, §22.3): feed each 401/407 to L{challenged}, then put
    L{authorizations} on the retried request and on later ones (reusing a
    nonce with a rising nc saves round trips).

    @param ha1: C{{algorithm: HA1}} when the password is not available.
    @param random: source of cnonce bytes; injectable for tests.
    """

    def __init__(
        self,
        username: str,
        password: str | None = None,
        *,
        ha1: Mapping[str, str] | None = None,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if (password is None) == (ha1 is None):
            raise ValueError("give exactly one of password and ha1")
        self.username = username
        self._password = password
        self._ha1 = {split_algorithm(a)[0]: check_ha1(a, h) for a, h in (ha1 or {}).items()}
        self._random = random
        self._realms: dict[str, _Answering] = {}

    def _usable(self, challenge: Challenge) -> bool:
        if canonical_algorithm(challenge.algorithm) is None:
            return False
        base, sess = split_algorithm(challenge.algorithm)
        if self._password is None and base not in self._ha1:
            return False
        if not challenge.qop:
            return not sess  # -sess needs a cnonce, which needs qop
        return "auth" in challenge.qop or "auth-int" in challenge.qop

    @staticmethod
    def _rank(challenge: Challenge) -> int:
        return _PREFERENCE.index(split_algorithm(challenge.algorithm)[0])

    def challenged(self, values: Iterable[str], sent: Iterable[str] = ()) -> None:
        """
        Take in the C{WWW-Authenticate} or C{Proxy-Authenticate} values of a
        401/407, choosing one challenge per realm (RFC 3261 §22.3).

        @param sent: the credentials values the challenged request carried.  A
            challenge without C{stale=true} for a realm answered there with a
            fresh nonce (nc 1) means the password was refused: retrying would
            loop.  After a reused nonce (nc > 1) one retry is allowed, for
            servers that forget nonces without saying C{stale}.
        @raise DigestError: no challenge this client can answer, a malformed
            value, or credentials refused.
        """
        best: dict[str, Challenge] = {}
        for value in values:
            for challenge in parse_challenges(value):
                if not self._usable(challenge):
                    continue
                held = best.get(challenge.realm)
                if held is None or self._rank(challenge) < self._rank(held):
                    best[challenge.realm] = challenge
        if not best:
            raise DigestError("no digest challenge this client can answer")
        refused = set()
        for value in sent:
            credentials = parse_credentials(value)
            if credentials is not None and credentials.nc in (None, "00000001"):
                refused.add(credentials.realm)
        for realm, challenge in best.items():
            if realm in refused and not challenge.stale:
                raise DigestError(f"credentials for realm {realm!r} were refused")
        for realm, challenge in best.items():
            self._realms[realm] = _Answering(challenge)

    def authorizations(self, method: str, uri: str, body: bytes = b"") -> list[str]:
        """
        Credentials values (one per realm challenged so far) for the next
        request; C{uri} is its Request-URI (RFC 3261 §22.4).
        """
        values = []
        for answering in self._realms.values():
            answering.nc += 1
            credentials = self._answer(answering.challenge, answering.nc, method, uri, body)
            values.append(format_credentials(credentials))
        return values

    def _answer(
        self, challenge: Challenge, count: int, method: str, uri: str, body: bytes
    ) -> Credentials:
        base = split_algorithm(challenge.algorithm)[0]
        if self._password is not None:
            ha1 = compute_ha1(base, self.username, challenge.realm, self._password)
        else:
            ha1 = self._ha1[base]
        qop = nc = cnonce = None
        if challenge.qop:
            # auth when offered; auth-int only when it is all the server takes.
            qop = "auth" if "auth" in challenge.qop else "auth-int"
            nc = f"{count:08x}"
            cnonce = base64.urlsafe_b64encode(self._random(12)).decode()
        response = compute_response(
            challenge.algorithm,
            ha1,
            method=method,
            uri=uri,
            nonce=challenge.nonce,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
            body=body,
        )
        return Credentials(
            username=self.username,
            realm=challenge.realm,
            nonce=challenge.nonce,
            uri=uri,
            response=response,
            algorithm=challenge.algorithm,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
            opaque=challenge.opaque,
        )
