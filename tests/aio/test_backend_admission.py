"""
Who may call: the invite filter (L{roomkit_sip._aio.incoming},
L{roomkit_sip._aio.admission.screen_invite}) and digest authentication
from C{auth_users} or an auth resolver, exercised through the engine's own
L{DigestAuthenticator} and a real digest client.
"""

from __future__ import annotations

import asyncio
from typing import Any

from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase

import roomkit_sip.asyncio as rk
from roomkit_sip._aio.bridge import as_awaitable
from roomkit_sip.auth.authenticator import AuthAccepted, AuthChallenge, AuthForbidden
from roomkit_sip.auth.digest_client import DigestClient
from tests.aio._fake_engine import run_backend, turn, until

URI = "sip:bot@127.0.0.1"


async def login(auth: Any, clock: Any, username: str, password: str) -> Any:
    """
    A UAC answering the authenticator's challenge: the final outcome.  The
    clock runs meanwhile (a failure is answered after the throttle's delay).
    """
    first = await as_awaitable(auth.authenticate("INVITE", URI, [], "127.0.0.1"))
    assert isinstance(first, AuthChallenge), first
    client = DigestClient(username, password)
    client.challenged([value for name, value in first.headers if name == "WWW-Authenticate"])
    values = client.authorizations("INVITE", URI)
    outcome = as_awaitable(auth.authenticate("INVITE", URI, values, "127.0.0.1"))
    await until(clock, outcome.done)
    return outcome.result()


class InviteViewTests(SynchronousTestCase):
    """
    What the filter gets.
    """

    def test_fields(self) -> None:
        """
        The filter sees the call's identity, routing headers, source and
        offer, and cannot change them.
        """

        async def scenario(backend: Any, clock: Any) -> Any:
            seen: list[Any] = []
            backend.set_invite_filter(seen.append)
            await as_awaitable(
                backend.fake_engine.invite(
                    call_id="c1",
                    x_headers={"X-Room-ID": "r1", "X-Session-ID": "s1", "X-Tenant": "acme"},
                    sdp_offer="v=0\r\nm=audio 4000 RTP/AVP 0\r\n",
                )
            )
            return seen[0]

        view = run_backend(scenario)
        self.assertIsInstance(view, rk.InviteView)
        self.assertEqual(
            (view.call_id, view.caller, view.callee, view.room_id, view.session_id),
            ("c1", "sip:alice@127.0.0.1:5070", "sip:bot@127.0.0.1", "r1", "s1"),
        )
        self.assertEqual(dict(view.x_headers)["X-Tenant"], "acme")
        self.assertEqual(view.source_addr, ("127.0.0.1", 5070))
        self.assertIn("m=audio 4000", view.sdp_offer)
        self.assertRaises(AttributeError, setattr, view, "room_id", "other")
        with self.assertRaises(TypeError):
            view.x_headers["X-Tenant"] = "evil"  # type: ignore[index]

    def test_reject_checks_status(self) -> None:
        """
        C{reject} takes a 3xx-6xx status; the first rejection wins.
        """

        async def scenario(backend: Any, clock: Any) -> Any:
            views: list[Any] = []
            backend.set_invite_filter(views.append)
            await as_awaitable(backend.fake_engine.invite())
            return views[0]

        view = run_backend(scenario)
        self.assertRaises(ValueError, view.reject, 200, "OK")
        self.assertRaises(ValueError, view.reject, "403", "Forbidden")
        view.reject(403, "Forbidden")
        view.reject(404, "Not Found")
        self.assertEqual(view.rejection, (403, "Forbidden"))


class FilterTests(SynchronousTestCase):
    """
    The filter's verdict.
    """

    def _outcomes(self, invite_filter: Any) -> tuple[list[Any], int]:
        async def scenario(backend: Any, clock: Any) -> tuple[list[Any], int]:
            backend.set_invite_filter(invite_filter)
            call = await as_awaitable(backend.fake_engine.invite(call_id="c1"))
            return backend.fake_engine.rejected, 0 if call is None else 1

        return run_backend(scenario)

    def test_accept(self) -> None:
        """
        C{None} (sync or async) answers the call; removing the filter too.
        """

        async def later(call: Any) -> None:
            await asyncio.sleep(0)

        self.assertEqual(self._outcomes(lambda call: None), ([], 1))
        self.assertEqual(self._outcomes(later), ([], 1))
        self.assertEqual(self._outcomes(None), ([], 1))

    def test_reject(self) -> None:
        """
        C{(status, reason)}, returned or awaited, or C{call.reject()},
        refuses the call with that status.
        """

        async def busy(call: Any) -> tuple[int, str]:
            await asyncio.sleep(0)
            return (486, "Busy Here")

        def rejecting(call: Any) -> None:
            call.reject(603, "Decline")

        self.assertEqual(
            self._outcomes(lambda call: (404, "Not Here")), ([("c1", 404, "Not Here")], 0)
        )
        self.assertEqual(self._outcomes(busy), ([("c1", 486, "Busy Here")], 0))
        self.assertEqual(self._outcomes(rejecting), ([("c1", 603, "Decline")], 0))

    def test_errors_answer_500(self) -> None:
        """
        A filter that raises, or returns something else than a verdict,
        refuses the call with 500 and is logged.
        """

        def broken(call: Any) -> None:
            raise LookupError("tenant db down")

        with capturedLogs() as events:
            self.assertEqual(self._outcomes(broken), ([("c1", 500, "Server Internal Error")], 0))
            self.assertEqual(
                self._outcomes(lambda call: "yes"), ([("c1", 500, "Server Internal Error")], 0)
            )
        self.assertEqual(len(self.flushLoggedErrors(LookupError)), 1)
        errors = [e for e in events if e.get("log_level") in (LogLevel.error, LogLevel.critical)]
        self.assertEqual(len(errors), 2)


class AuthTests(SynchronousTestCase):
    """
    Credentials from C{auth_users} and C{set_auth_resolver}.
    """

    def _login(self, username: str, password: str, resolver: Any = None, **kw: Any) -> Any:
        async def scenario(backend: Any, clock: Any) -> Any:
            if resolver is not None:
                backend.set_auth_resolver(resolver)
            await backend.start()
            return await login(backend.fake_engine.config.auth, clock, username, password)

        return run_backend(scenario, start=False, **kw)

    def test_auth_users(self) -> None:
        """
        The right password is accepted, a wrong one or an unknown user
        refused.
        """
        users = {"alice": "s3cret"}
        self.assertIsInstance(self._login("alice", "s3cret", auth_users=users), AuthAccepted)
        self.assertIsInstance(self._login("alice", "wrong", auth_users=users), AuthForbidden)
        self.assertIsInstance(self._login("mallory", "s3cret", auth_users=users), AuthForbidden)

    def test_resolver(self) -> None:
        """
        A resolver, sync or coroutine, takes precedence over C{auth_users};
        C{None} from it refuses the user.
        """

        async def remote(username: str) -> str | None:
            await asyncio.sleep(0)
            return {"bob": "hunter2"}.get(username)

        users = {"alice": "s3cret"}
        sync = {"bob": "hunter2"}.get
        for resolver in (sync, remote):
            self.assertIsInstance(
                self._login("bob", "hunter2", resolver, auth_users=users), AuthAccepted
            )
            self.assertIsInstance(
                self._login("alice", "s3cret", resolver, auth_users=users), AuthForbidden
            )

    def test_resolver_error(self) -> None:
        """
        A resolver that fails refuses the login (500, logged), and the
        backend goes on.
        """

        def broken(username: str) -> str:
            raise ConnectionError("vault down")

        outcome = self._login("bob", "x", broken)
        self.assertEqual(outcome.status, 500)
        self.assertEqual(len(self.flushLoggedErrors(ConnectionError)), 1)

    def test_has_auth(self) -> None:
        """
        C{has_auth()} follows C{auth_users} and the resolver; removing the
        resolver falls back to the users.
        """
        backend = rk.SIPVoiceBackend()
        self.assertFalse(backend.has_auth())
        backend.set_auth_resolver(lambda user: None)
        self.assertTrue(backend.has_auth())
        backend.set_auth_resolver(None)
        self.assertFalse(backend.has_auth())
        self.assertTrue(rk.SIPVoiceBackend(auth_users={"a": "b"}).has_auth())
        self.assertRaises(TypeError, backend.set_auth_resolver, "not callable")

    def test_resolver_after_unauthenticated_start(self) -> None:
        """
        A resolver installed after an unauthenticated start cannot switch
        authentication on in the running engine: that is logged, and the
        next start uses it.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            before = backend.fake_engine.config.auth
            with capturedLogs() as events:
                backend.set_auth_resolver({"bob": "pw"}.get)
            await backend.close()
            await backend.start()
            await turn()
            warned = [e for e in events if e.get("log_level") == LogLevel.warn]
            return before, len(warned), backend.fake_engine.config.auth is not None

        self.assertEqual(run_backend(scenario), (None, 1, True))
