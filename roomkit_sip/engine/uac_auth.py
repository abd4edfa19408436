# -*- test-case-name: tests.engine.test_outgoing -*-
"""
Answering digest challenges on the requests the engine originates: the
INVITEs of L{roomkit_sip.engine.outgoing} and the REGISTERs of
L{roomkit_sip.engine.registration}.

RFC 3261 §22.2 and §22.3: a 401 carries C{WWW-Authenticate} and is answered
in C{Authorization}; a 407 (a proxy) carries C{Proxy-Authenticate} and is
answered in C{Proxy-Authorization}.  Both may be needed on one request (a
proxy and the callee each challenge once), so there is one
L{roomkit_sip.auth.digest_client.DigestClient} per header kind, and each is
kept for later requests: their credentials go on every retry and refresh
with a rising nonce count (RFC 7616 §3.4), sparing the server a challenge
round trip while it still accepts the nonce.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from roomkit_sip.auth.digest_client import DigestClient
from roomkit_sip.sip.digest import DigestError
from roomkit_sip.sip.message import Request, Response

__all__ = ["MAX_CHALLENGES", "ChallengeResponder", "DigestError", "digest_factory"]

#: Challenges answered for one request and its retries: a proxy's 407, the
#: server's 401, and one stale nonce (RFC 7616 §3.3) between them.
MAX_CHALLENGES = 3

#: Challenge header -> credentials header (§22.2, §22.3).
_HEADERS = {
    401: ("WWW-Authenticate", "Authorization"),
    407: ("Proxy-Authenticate", "Proxy-Authorization"),
}

DigestFactory = Callable[[], DigestClient]


def digest_factory(credentials: Any) -> DigestFactory | None:
    """
    The L{DigestClient} maker for C{credentials}.

    @param credentials: C{None}; a C{(username, password)} pair; an object
        with C{username} and C{password} attributes (aiosipua's
        C{SipDigestAuth}); or a callable returning a fresh L{DigestClient}
        (for HA1-only secrets, or an injected cnonce source).
    @raise TypeError: anything else.
    """
    if credentials is None:
        return None
    if isinstance(credentials, tuple) and len(credentials) == 2:
        username, password = credentials
    elif callable(credentials):
        return credentials  # type: ignore[no-any-return]
    else:
        username = getattr(credentials, "username", None)
        password = getattr(credentials, "password", None)
    if not isinstance(username, str) or not isinstance(password, str):
        raise TypeError(
            "credentials: expected (username, password), an object with username and "
            f"password, or a DigestClient factory; got {credentials!r}"
        )
    return lambda: DigestClient(username, password)


class ChallengeResponder:
    """
    The digest state of one outgoing call or registration.

    @param factory: makes a L{DigestClient} the first time a 401 (or a 407)
        arrives.
    """

    def __init__(self, factory: DigestFactory) -> None:
        self._factory = factory
        self._clients: dict[str, DigestClient] = {}

    @staticmethod
    def is_challenge(response: Response) -> bool:
        return response.status in _HEADERS

    def authorize(self, request: Request) -> None:
        """
        Put credentials for every realm challenged so far on C{request} (in
        place, before it is sent): its digest-uri is the Request-URI
        (§22.4), and each use raises the nonce count.
        """
        for header, client in self._clients.items():
            request.headers.remove(header)
            for value in client.authorizations(request.method, request.uri, request.body):
                request.headers.add(header, value)

    def challenged(self, response: Response, request: Request) -> None:
        """
        Take in the challenge of a 401/407 answering C{request}.

        @raise DigestError: no challenge we can answer, or the credentials
            C{request} carried were refused (retrying would loop).
        """
        challenge_header, credentials_header = _HEADERS[response.status]
        client = self._clients.get(credentials_header)
        if client is None:
            client = self._factory()
        client.challenged(
            response.headers.get_all(challenge_header),
            sent=request.headers.get_all(credentials_header),
        )
        self._clients[credentials_header] = client
