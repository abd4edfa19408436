# -*- test-case-name: tests.aio.test_backend_admission -*-
"""
Who may call: digest authentication and the application's invite filter.

roomkit's backend challenges INVITEs when C{auth_users} or an auth resolver
is set (the resolver wins), then runs the invite filter before answering
(contract §3.2).  The engine does the digest exchange itself with a
L{DigestAuthenticator}; L{Credentials} is the provider behind it, reading
the resolver or the user table at each lookup so that
C{set_auth_resolver} takes effect on the next INVITE.  Resolvers and
filters may be plain or coroutine functions: both run on the loop thread
through the L{CallbackRunner}.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from roomkit_sip._aio.callbacks import CallbackRunner
from roomkit_sip._aio.incoming import InviteView
from roomkit_sip.auth.authenticator import DigestAuthenticator
from roomkit_sip.auth.providers import DictAuthProvider, ResolverAuthProvider
from roomkit_sip.interfaces import IAuthProvider

__all__ = ["Credentials", "screen_invite"]

_log = Logger()

#: The engine's verdict on an INVITE: answer (C{None}) or C{(status, reason)}.
Verdict = tuple[int, str] | None


@implementer(IAuthProvider)
class Credentials:
    """
    The backend's credential sources: C{auth_users} and the resolver.

    Validated when set, so a bad C{auth_users} entry fails the constructor,
    not a call.
    """

    def __init__(self, users: Mapping[str, Any] | None, realm: str) -> None:
        self.realm = realm
        self._users = DictAuthProvider(users) if users else None
        self._resolver: Callable[[str], object] | None = None
        self._runner: CallbackRunner | None = None

    def set_resolver(self, resolver: Callable[[str], object] | None) -> None:
        """
        @param resolver: C{resolver(username) -> password | None}, or an
            awaitable of it; C{None} to fall back to the user table.
        """
        if resolver is not None and not callable(resolver):
            raise TypeError("the auth resolver must be callable")
        self._resolver = resolver

    def configured(self) -> bool:
        """Whether any credential source exists (roomkit's C{has_auth()})."""
        return self._users is not None or self._resolver is not None

    def authenticator(self, clock: IReactorTime, runner: CallbackRunner) -> DigestAuthenticator:
        """
        The engine's authenticator for this realm, with a fresh nonce key.

        @param runner: runs the resolver on the loop thread.
        """
        self._runner = runner
        return DigestAuthenticator(self, self.realm, os.urandom(32), clock)

    def lookup(self, realm: str, username: str) -> object:
        resolver, runner = self._resolver, self._runner
        if resolver is not None and runner is not None:
            return ResolverAuthProvider(lambda name: runner.call_deferred(resolver, name)).lookup(
                realm, username
            )
        if self._users is not None:
            return self._users.lookup(realm, username)
        # Auth was on at start and every source has been removed since:
        # refuse rather than let calls in unauthenticated.
        return None


def screen_invite(
    invite_filter: Callable[..., object] | None, incoming: Any, runner: CallbackRunner
) -> Verdict | Deferred[Verdict]:
    """
    Run the invite filter for one INVITE, as the engine's C{incoming_call}.

    C{None} from the filter answers the call; C{(status, reason)}, or a call
    to C{reject()} on the view, refuses it; an exception (or anything else
    returned) refuses it with 500 and is logged.  Without a filter the call
    is answered at once.
    """
    if invite_filter is None:
        return None
    view = InviteView(incoming)
    d = runner.call_deferred(invite_filter, view)
    d.addCallbacks(_verdict, _filter_failed, callbackArgs=(view,), errbackArgs=(view,))
    return d


def _verdict(result: object, view: InviteView) -> Verdict:
    if view.rejection is not None:
        return view.rejection
    if result is None:
        return None
    if (
        isinstance(result, tuple)
        and len(result) == 2
        and type(result[0]) is int
        and 300 <= result[0] <= 699
    ):
        return (result[0], str(result[1]))
    _log.error(
        "The invite filter returned {result!r} for {call_id}; expected None or "
        "(status, reason): answering 500",
        result=result,
        call_id=view.call_id,
    )
    return (500, "Server Internal Error")


def _filter_failed(failure: Failure, view: InviteView) -> Verdict | Failure:
    if failure.check(CancelledError):
        return failure  # the caller CANCELled: the engine answers 487 itself
    _log.failure(
        "The invite filter failed for {call_id}: answering 500", failure, call_id=view.call_id
    )
    return (500, "Server Internal Error")
