# -*- test-case-name: tests.auth.test_authenticator -*-
"""
Digest authentication of one inbound request, as the call engine asks for it:
credentials in, an L{AuthOutcome} out (accept, challenge, 400, 403 or 500).

Behaviour matches what a carrier expects of roomkit's backend: no credentials
earns a challenge, a wrong password or unknown user a 403 (alike in outcome,
delay and hashing cost), an expired nonce a C{stale=true} challenge.  Failures
are throttled per source by a L{FailureThrottle}.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from twisted.internet.defer import CancelledError, Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from roomkit_sip.auth.digest_server import (
    DEFAULT_ALGORITHMS,
    NONCE_LIFETIME,
    DigestServer,
    Secret,
    Verdict,
)
from roomkit_sip.auth.providers import ha1_table
from roomkit_sip.auth.throttle import FailureThrottle
from roomkit_sip.interfaces import IAuthProvider
from roomkit_sip.sip.digest import Credentials, DigestError, parse_credentials


@dataclass(frozen=True)
class AuthAccepted:
    """The request may proceed on behalf of C{username}."""

    username: str
    algorithm: str


@dataclass(frozen=True)
class AuthChallenge:
    """Answer C{status} (401/407) with these header fields added."""

    status: int
    headers: tuple[tuple[str, str], ...]
    stale: bool = False


@dataclass(frozen=True)
class AuthForbidden:
    """Answer 403: wrong password, unknown user, or a throttled source."""

    detail: str
    status: int = 403


@dataclass(frozen=True)
class AuthBadRequest:
    """Answer 400: credentials that break RFC 7616 (C{detail} may go in a Warning)."""

    detail: str
    status: int = 400


@dataclass(frozen=True)
class AuthServerError:
    """Answer 500: the provider failed; already logged."""

    detail: str
    status: int = 500


AuthOutcome = AuthAccepted | AuthChallenge | AuthForbidden | AuthBadRequest | AuthServerError


class DigestAuthenticator:
    """
    Server-side digest flow for one realm over an L{IAuthProvider}.

    @param secret: nonce HMAC key (at least 16 bytes); see L{DigestServer}.
    @param clock: time for nonces, their lifetime and the throttle's delays.
    @param throttle: penalties per source; C{None} builds the default policy.
    @param proxy: challenge with 407/C{Proxy-Authenticate} and read
        C{Proxy-Authorization} values (RFC 3261 §22.3).
    @param uri_equal: digest-uri comparison, see L{DigestServer}.
    @param lookup_timeout: seconds a provider may take before the request is
        answered 500 (a resolver on a dead database must not hold calls forever).
    """

    _log = Logger()

    def __init__(
        self,
        provider: IAuthProvider,
        realm: str,
        secret: bytes,
        clock: IReactorTime,
        throttle: FailureThrottle | None = None,
        proxy: bool = False,
        *,
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        nonce_lifetime: float = NONCE_LIFETIME,
        allow_rfc2069: bool = True,
        uri_equal: Callable[[str, str], bool] | None = None,
        lookup_timeout: float = 10.0,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._provider = provider
        self._lookup_timeout = lookup_timeout
        self._clock = clock
        self._throttle = throttle if throttle is not None else FailureThrottle(clock)
        self._server = DigestServer(
            realm,
            secret,
            algorithms=algorithms,
            proxy=proxy,
            nonce_lifetime=nonce_lifetime,
            allow_rfc2069=allow_rfc2069,
            uri_equal=uri_equal,
            random=random,
        )

    @property
    def realm(self) -> str:
        """The protection space challenged for (C{auth_realm} in roomkit)."""
        return self._server.realm

    @property
    def credentials_header(self) -> str:
        """The header whose values L{authenticate} wants: C{Authorization} or C{Proxy-...}."""
        return self._server.credentials_header

    def _challenge(
        self, *, stale: bool = False, algorithms: Sequence[str] | None = None
    ) -> AuthChallenge:
        headers = self._server.challenge(self._clock.seconds(), stale=stale, algorithms=algorithms)
        return AuthChallenge(self._server.status, tuple(headers), stale)

    def authenticate(
        self,
        method: str,
        request_uri: str,
        authorization_header_values: Sequence[str],
        source_host: str,
        body: bytes = b"",
    ) -> Deferred[AuthOutcome]:
        """
        Judge one request.  The Deferred fails only if cancelled: provider
        errors and timeouts become L{AuthServerError}.

        @param authorization_header_values: every value of L{credentials_header};
            values for other realms or schemes are ignored (RFC 3261 §22.3).
        @param source_host: the address failures are throttled by.
        @param body: needed only if C{auth-int} is ever accepted.
        """
        if self._throttle.blocked(source_host):
            self._log.warn("digest auth from {source} refused: throttled", source=source_host)
            return succeed(AuthForbidden("too many failures from this source"))
        try:
            credentials = self._select(authorization_header_values)
            if credentials is None:
                return succeed(self._challenge())
            early = self._server.screen(credentials, request_uri, self._clock.seconds())
        except DigestError as e:
            self._log.info(
                "bad digest credentials from {source}: {detail}", source=source_host, detail=str(e)
            )
            return succeed(AuthBadRequest(str(e)))
        if early is not None:
            return succeed(self._challenge())
        d = maybeDeferred(self._provider.lookup, self.realm, credentials.username)
        d.addTimeout(self._lookup_timeout, self._clock)
        d.addCallback(self._judge, credentials, method, request_uri, body, source_host)
        d.addErrback(self._failed, credentials.username)
        return d

    def _select(self, values: Sequence[str]) -> Credentials | None:
        """Our realm's Digest credentials; with several, the one whose nonce is ours."""
        ours = []
        for value in values:
            credentials = parse_credentials(value)
            if credentials is not None and credentials.realm == self.realm:
                ours.append(credentials)
        for credentials in ours:
            if self._server.issued_at(credentials.nonce) is not None:
                return credentials
        return ours[0] if ours else None

    def _judge(
        self,
        secret: object,
        credentials: Credentials,
        method: str,
        request_uri: str,
        body: bytes,
        source: str,
    ) -> AuthOutcome | Deferred[AuthOutcome]:
        """Turn the provider's answer into an outcome, holding back 403s per the throttle."""
        if not (secret is None or isinstance(secret, str | Mapping)):
            raise TypeError(f"auth provider returned {type(secret).__name__}")
        if isinstance(secret, Mapping):
            secret = ha1_table(secret)  # third-party keys may be "md5", "sha-256"...
        secret = cast(Secret, secret)
        username = credentials.username
        try:
            verdict = self._server.verify(
                credentials, secret, method, request_uri, self._clock.seconds(), body
            )
        except DigestError as e:
            return AuthBadRequest(str(e))
        if verdict is Verdict.ACCEPT:
            self._throttle.success(source)
            self._log.info(
                "digest auth accepted: {username} from {source} ({algorithm})",
                username=username,
                source=source,
                algorithm=credentials.algorithm,
            )
            return AuthAccepted(username, credentials.algorithm)
        if verdict is Verdict.REJECT:
            delay = self._throttle.failure(source)
            self._log.warn(
                "digest auth failed: {username} from {source}; answering in {delay}s",
                username=username,
                source=source,
                delay=delay,
            )
            outcome = AuthForbidden("wrong user name or password")
            return deferLater(self._clock, delay, lambda: outcome) if delay else outcome
        if verdict is Verdict.UNVERIFIABLE:
            algorithms = self._server.verifiable(secret)
            if not algorithms:
                self._log.error(
                    "no offered algorithm can verify {username}: check the store",
                    username=username,
                )
                return AuthForbidden("no usable credentials stored")
            return self._challenge(algorithms=algorithms)
        # STALE and REPLAY: the client knows the password but the nonce is spent.
        stale = verdict in (Verdict.STALE, Verdict.REPLAY)
        return self._challenge(stale=stale)

    def _failed(self, failure: Failure, username: str) -> AuthServerError | Failure:
        if failure.check(CancelledError):
            return failure  # the caller gave up on this request; nothing to report
        self._log.failure(
            "auth provider failed for {username}", failure, level=LogLevel.error, username=username
        )
        return AuthServerError("authentication backend failed")
