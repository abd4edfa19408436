# -*- test-case-name: tests.auth.test_providers -*-
"""
In-memory and callback L{IAuthProvider}s: roomkit's C{auth_users} dictionary
and its C{set_auth_resolver} callable.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

from twisted.internet.defer import Deferred
from zope.interface import implementer

from roomkit_sip.interfaces import IAuthProvider
from roomkit_sip.sip.digest import check_ha1, split_algorithm

UserSecret = str | Mapping[str, str]


def ha1_table(ha1s: Mapping[str, str]) -> dict[str, str]:
    """
    Normalise C{{algorithm: HA1}}: canonical names, lower-case hex of the right
    length.  C{-sess} keys are refused: the stored HA1 is the plain one and
    serves both variants (RFC 7616 §3.4.2).

    @raise ValueError: unknown algorithm or malformed HA1.
    """
    table = {}
    for algorithm, ha1 in ha1s.items():
        try:
            base, sess = split_algorithm(algorithm)
        except ValueError:
            raise ValueError(f"unknown digest algorithm {algorithm!r}") from None
        if sess:
            raise ValueError(f"store the plain {base} HA1, not {algorithm}")
        table[base] = check_ha1(base, ha1)
    if not table:
        raise ValueError("an empty HA1 mapping can verify nothing")
    return table


@implementer(IAuthProvider)
class DictAuthProvider:
    """
    Users held in memory, as roomkit's C{auth_users}: C{username -> password},
    or C{username -> {algorithm: HA1}} to keep passwords out of the process.

    Realm-agnostic, like roomkit: one provider serves the backend's one realm
    (an HA1 is bound to the realm it was computed for anyway).  The mapping is
    copied and validated once, so a bad entry fails at start-up, not mid-call.
    """

    def __init__(self, users: Mapping[str, UserSecret]) -> None:
        self._users: dict[str, str | dict[str, str]] = {}
        for username, secret in users.items():
            if isinstance(secret, str):
                self._users[username] = secret
            elif isinstance(secret, Mapping):
                try:
                    self._users[username] = ha1_table(secret)
                except ValueError as e:
                    raise ValueError(f"user {username!r}: {e}") from None
            else:
                raise TypeError(f"user {username!r}: expected a password or HA1 mapping")

    def lookup(self, realm: str, username: str) -> str | dict[str, str] | None:
        secret = self._users.get(username)
        return dict(secret) if isinstance(secret, dict) else secret


@implementer(IAuthProvider)
class ResolverAuthProvider:
    """
    A callable C{resolver(username) -> password | None}, as roomkit's
    C{set_auth_resolver} takes; it may also return a C{Deferred} (or an HA1
    mapping).  Coroutines are refused here: the asyncio adapter owns the loop
    they need and wraps them into Deferreds before they reach this class.
    """

    def __init__(self, resolver: Callable[[str], object]) -> None:
        if not callable(resolver):
            raise TypeError("resolver must be callable")
        self._resolver = resolver

    def lookup(self, realm: str, username: str) -> object:
        result = self._resolver(username)
        if inspect.isawaitable(result) and not isinstance(result, Deferred):
            if inspect.iscoroutine(result):
                result.close()  # no "never awaited" warning on top of the error
            raise TypeError(
                "auth resolver returned an awaitable; pass a sync function or one "
                "returning a Deferred (the asyncio adapter wraps coroutines)"
            )
        return result
