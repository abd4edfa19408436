"""
Calls the backend places (C{dial}) and registrations (C{register}), over
the fake engine: what the engine is asked, the session that comes back,
and roomkit's errors for refusals and timeouts.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

import roomkit_sip.asyncio as rk
from roomkit_sip._aio.outbound import REGISTER_TIMEOUT, credentials_of
from tests.aio import run_scenario
from tests.aio._fake_engine import (
    CallFailed,
    FakeCall,
    FakeEngine,
    advance,
    fake_backend_class,
    run_backend,
    turn,
    until,
)

TO = "sip:bob@example.com"
FROM = "sip:bot@example.com"
PROXY = ("127.0.0.1", 5060)


class DialTests(SynchronousTestCase):
    def test_answered(self) -> None:
        """
        An answered dial is an ACTIVE session on the given channel, marked
        outbound; C{on_call} and the session-ready callbacks have run when
        C{dial} returns.  The engine was asked for the one codec and the
        credentials.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            order: list[str] = []
            backend.on_call(lambda s: order.append("call"))
            backend.on_session_ready(lambda s: order.append("ready"))
            task = asyncio.ensure_future(
                backend.dial(
                    TO,
                    FROM,
                    PROXY,
                    room_id="room-5",
                    channel_id="phone",
                    codec=rk.PT_PCMA,
                    auth=("bot", "pw"),
                    extra_headers={"X-Campaign": "7"},
                    timeout=12.0,
                )
            )
            await turn()
            engine = backend.fake_engine
            args, kwargs, _ = engine.dials[0]
            engine.answer_dial(0, codec="PCMA")
            session = await task
            return order, session, session.state, args, kwargs, backend.get_session(session.id)

        order, session, state, args, kwargs, listed = run_backend(scenario)
        self.assertEqual(order, ["call", "ready"])
        self.assertIs(listed, session)
        self.assertEqual((session.channel_id, state), ("phone", rk.VoiceSessionState.ACTIVE))
        self.assertEqual(session.metadata["direction"], "outbound")
        self.assertEqual(args, (TO, FROM, PROXY))
        self.assertEqual([c.encoding_name for c in kwargs["codecs"]], ["PCMA"])
        self.assertEqual(kwargs["credentials"], ("bot", "pw"))
        self.assertEqual(
            (kwargs["room_id"], kwargs["extra_headers"], kwargs["timeout"]),
            ("room-5", {"X-Campaign": "7"}, 12.0),
        )

    def test_refused(self) -> None:
        """
        A 3xx-6xx answer raises RuntimeError naming the status.
        """

        async def scenario(backend: Any, clock: Any) -> BaseException | None:
            task = asyncio.ensure_future(backend.dial(TO, FROM, PROXY))
            await turn()
            backend.fake_engine.dials[0][2].errback(Failure(CallFailed(486, "Busy Here")))
            await turn()
            return task.exception()

        error = run_backend(scenario)
        self.assertIsInstance(error, RuntimeError)
        self.assertIn("486 Busy Here", str(error))
        self.assertIsInstance(error.__cause__, CallFailed)

    def test_timeout(self) -> None:
        """
        No answer in time raises TimeoutError.
        """
        from twisted.internet import defer

        async def scenario(backend: Any, clock: Any) -> BaseException | None:
            task = asyncio.ensure_future(backend.dial(TO, FROM, PROXY, timeout=3))
            await turn()
            backend.fake_engine.dials[0][2].errback(Failure(defer.TimeoutError()))
            await turn()
            return task.exception()

        self.assertIsInstance(run_backend(scenario), TimeoutError)

    def test_silence_on_answer(self) -> None:
        """
        C{send_silence_on_answer} plays that much silence once answered.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[int, bool]:
            task = asyncio.ensure_future(backend.dial(TO, FROM, PROXY))
            await turn()
            call = backend.fake_engine.answer_dial(0)
            await task
            await until(clock, lambda: not call.is_playing)
            return len(call.sent), all(p == b"\x00" * 320 for _, p in call.sent)

        self.assertEqual(run_backend(scenario, send_silence_on_answer=0.5), (25, True))

    def test_ended_before_use(self) -> None:
        """
        A dialled call that is already over when answered is an error, not
        a dead session.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            task = asyncio.ensure_future(backend.dial(TO, FROM, PROXY))
            await turn()
            engine = backend.fake_engine
            dead = FakeCall(engine, direction="outbound")
            dead.state = "ended"
            engine.dials[0][2].callback(dead)
            await turn()
            return task.exception(), backend.get_session(dead.session_id)

        error, listed = run_backend(scenario)
        self.assertIsInstance(error, RuntimeError)
        self.assertIsNone(listed)

    def test_credentials_forms(self) -> None:
        """
        Credentials may be a pair or an object with C{username} and
        C{password} (aiosipua's C{SipDigestAuth}); anything else is refused.
        """
        self.assertIsNone(credentials_of(None))
        self.assertEqual(credentials_of(("u", "p")), ("u", "p"))
        self.assertEqual(credentials_of(SimpleNamespace(username="u", password="p")), ("u", "p"))
        self.assertRaises(TypeError, credentials_of, "u:p")


class RegisterTests(SynchronousTestCase):
    def test_registered(self) -> None:
        """
        C{register()} passes its arguments to the engine and returns once
        the registrar accepted.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            task = asyncio.ensure_future(
                backend.register(
                    ("127.0.0.1", 5090), username="100", password="pw", domain="pbx", expires=60
                )
            )
            await turn()
            args, kwargs, d = backend.fake_engine.registrations[0]
            pending = task.done()
            d.callback("registration")
            await turn()
            return pending, task.result(), args, kwargs

        pending, result, args, kwargs = run_backend(scenario)
        self.assertFalse(pending)
        self.assertIsNone(result)
        self.assertEqual(args, (("127.0.0.1", 5090),))
        self.assertEqual(
            kwargs, {"username": "100", "password": "pw", "domain": "pbx", "expires": 60}
        )

    def test_refused(self) -> None:
        """
        A refusal raises RuntimeError with the status.
        """

        async def scenario(backend: Any, clock: Any) -> BaseException | None:
            task = asyncio.ensure_future(
                backend.register(("127.0.0.1", 5090), username="100", password="pw")
            )
            await turn()
            backend.fake_engine.registrations[0][2].errback(Failure(CallFailed(403, "Forbidden")))
            await turn()
            return task.exception()

        error = run_backend(scenario)
        self.assertIsInstance(error, RuntimeError)
        self.assertIn("403", str(error))

    def test_timeout(self) -> None:
        """
        Without an answer within five seconds (of the engine's clock),
        TimeoutError.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[bool, BaseException | None]:
            task = asyncio.ensure_future(
                backend.register(("127.0.0.1", 5090), username="100", password="pw")
            )
            await advance(clock, REGISTER_TIMEOUT - 0.1)
            early = task.done()
            await advance(clock, 0.2)
            return early, task.exception()

        early, error = run_backend(scenario)
        self.assertFalse(early)
        self.assertIsInstance(error, TimeoutError)


class MissingEngineSupportTests(SynchronousTestCase):
    def test_engine_without_dial_or_register(self) -> None:
        """
        An engine without C{dial}/C{register} makes them raise
        NotImplementedError (a RuntimeError, as roomkit's refusals) naming
        what is missing, instead of an AttributeError.
        """

        class Limited(FakeEngine):
            def __getattribute__(self, name: str) -> Any:
                if name in ("dial", "register"):
                    raise AttributeError(name)
                return super().__getattribute__(name)

        class Backend(fake_backend_class()):  # type: ignore[misc]
            def _make_engine(self, reactor: Any, config: Any, handler: Any) -> Any:
                return Limited(reactor, config, handler)

        async def scenario(_: object) -> list[str]:
            from roomkit_sip.testing import MemoryUDPReactor

            backend = Backend(local_sip_addr=("127.0.0.1", 5062), reactor=MemoryUDPReactor())
            await backend.start()
            errors = []
            try:
                for attempt in (
                    backend.dial(TO, FROM, PROXY),
                    backend.register(("127.0.0.1", 5090), username="u", password="p"),
                ):
                    try:
                        await attempt
                    except NotImplementedError as e:
                        errors.append(str(e))
            finally:
                await backend.close()
            return errors

        errors = run_scenario(scenario)
        self.assertEqual(len(errors), 2)
        self.assertIn("SIPEngine.dial", errors[0])
        self.assertIn("SIPEngine.register", errors[1])
        self.assertTrue(issubclass(NotImplementedError, RuntimeError))
