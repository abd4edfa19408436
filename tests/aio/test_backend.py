"""
L{roomkit_sip.asyncio.SIPVoiceBackend} over a fake engine: identity, the
order of callbacks on answer, the ends of a call that reach the
application (and those that do not), sessions, inbound audio and DTMF,
and the lifecycle.  Runs against roomkit's types when roomkit is
installed and against the package's own otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase

import roomkit_sip.asyncio as rk
from roomkit_sip.auth.authenticator import DigestAuthenticator
from tests.aio._fake_engine import answer, fake_backend_class, run_backend, turn, until
from tests.aio._roomkit import require_roomkit

#: The metadata keys roomkit's backend writes on an inbound call (contract §2.1).
ROOMKIT_KEYS = {
    "backend",
    "call_id",
    "caller",
    "callee",
    "caller_display_name",
    "caller_user",
    "room_id",
    "x_headers",
    "input_sample_rate",
    "output_sample_rate",
    "codec_sample_rate",
}

REMOTE_REASONS = (
    "remote_bye",
    "ack_timeout",
    "media_lost",
    "media_not_established",
    "session_expired",
)


class IdentityTests(SynchronousTestCase):
    """
    What roomkit reads of a backend before any call.
    """

    def test_name_and_capabilities(self) -> None:
        """
        C{name} is C{"SIP"}; the capabilities are exactly out-of-band DTMF
        and interruption (without the first ON_DTMF never fires, without
        the second barge-in never flushes audio); no auto-connect; played
        frames are reported.
        """
        backend = rk.SIPVoiceBackend()
        self.assertEqual(backend.name, "SIP")
        self.assertEqual(
            backend.capabilities,
            rk.VoiceCapability.DTMF_SIGNALING | rk.VoiceCapability.INTERRUPTION,
        )
        self.assertIs(backend.auto_connect, False)
        self.assertIs(backend.supports_playback_callback, True)
        self.assertIs(backend.feeds_aec_reference, False)

    def test_payload_type_constants(self) -> None:
        """
        C{PT_G722}, C{PT_PCMU} and C{PT_PCMA} are roomkit's values, on the
        module and on the class.
        """
        self.assertEqual((rk.PT_PCMU, rk.PT_PCMA, rk.PT_G722), (0, 8, 9))
        cls = rk.SIPVoiceBackend
        self.assertEqual((cls.PT_PCMU, cls.PT_PCMA, cls.PT_G722), (0, 8, 9))

    def test_roomkit_base_class(self) -> None:
        """
        With roomkit installed the backend is a roomkit C{VoiceBackend};
        without it, the package's stand-in.
        """
        if rk.HAVE_ROOMKIT:
            from roomkit.voice.backends.base import VoiceBackend

            self.assertIsInstance(rk.SIPVoiceBackend(), VoiceBackend)
        else:
            from roomkit_sip._aio.types import LocalVoiceBackend

            self.assertIsInstance(rk.SIPVoiceBackend(), LocalVoiceBackend)

    def test_exports(self) -> None:
        """
        The facade exports exactly its documented names.
        """
        self.assertEqual(
            sorted(rk.__all__),
            sorted(
                [
                    "HAVE_ROOMKIT",
                    "PT_G722",
                    "PT_PCMA",
                    "PT_PCMU",
                    "AudioChunk",
                    "AudioFrame",
                    "DTMFEvent",
                    "InviteView",
                    "ProtocolTrace",
                    "ReactorMismatchError",
                    "SIPVoiceBackend",
                    "VoiceCapability",
                    "VoiceSession",
                    "VoiceSessionEndedError",
                    "VoiceSessionState",
                    "WrongThreadError",
                ]
            ),
        )


class AnswerTests(SynchronousTestCase):
    """
    The order on answer: an ACTIVE session with roomkit's metadata, then
    C{on_call}, then every session-ready callback.
    """

    def test_order(self) -> None:
        """
        C{on_call} sees an C{ACTIVE} session that C{get_session} and
        C{list_sessions} already return; the session-ready callbacks run
        after it, in registration order, with the same object.
        """

        async def scenario(backend: Any, clock: Any) -> list[tuple[Any, ...]]:
            seen: list[tuple[Any, ...]] = []

            def record(name: str) -> Any:
                def callback(session: Any) -> None:
                    listed = backend.list_sessions("room-1") == [session]
                    found = backend.get_session(session.id) is session
                    seen.append((name, session.state, session, found and listed))

                return callback

            backend.on_call(record("call"))
            backend.on_session_ready(record("ready1"))
            backend.on_session_ready(record("ready2"))
            await answer(backend, x_headers={"X-Room-ID": "room-1"})
            return seen

        events = run_backend(scenario)
        self.assertEqual([e[0] for e in events], ["call", "ready1", "ready2"])
        self.assertEqual({e[1] for e in events}, {rk.VoiceSessionState.ACTIVE})
        self.assertEqual(len({id(e[2]) for e in events}), 1)
        self.assertEqual([e[3] for e in events], [True] * 3)
        self.assertIsInstance(events[0][2], rk.VoiceSession)

    def test_identity_without_x_headers(self) -> None:
        """
        Without X-headers the session, its room and the call share the
        Call-ID, the participant is the caller URI and the channel is
        C{"voice"}.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            call = await answer(backend, call_id="abc@host")
            s = backend.get_session("abc@host")
            return s.id, s.room_id, s.participant_id, s.channel_id, call.call_id

        self.assertEqual(
            run_backend(scenario),
            ("abc@host", "abc@host", "sip:alice@127.0.0.1:5070", "voice", "abc@host"),
        )

    def test_identity_from_x_headers(self) -> None:
        """
        C{X-Session-ID} names the session and the participant, C{X-Room-ID}
        the room.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            await answer(backend, x_headers={"X-Room-ID": "room-42", "X-Session-ID": "caller-7"})
            s = backend.get_session("caller-7")
            return s.id, s.room_id, s.participant_id

        self.assertEqual(run_backend(scenario), ("caller-7", "room-42", "caller-7"))

    def test_metadata(self) -> None:
        """
        The session carries roomkit's metadata keys with the codec's rate,
        as plain JSON-able data, in a dict of its own: the application
        writing into it does not touch the engine's call.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            call = await answer(backend, codec="G722", x_headers={"X-Tenant": "t1"})
            session = backend.get_session(call.session_id)
            session.metadata["_auto_greeted:agent"] = True
            session.metadata["x_headers"]["X-Other"] = "1"
            return session.metadata, call.metadata

        meta, engine_meta = run_backend(scenario)
        self.assertLessEqual(ROOMKIT_KEYS, set(meta))
        self.assertEqual(
            [meta[k] for k in ("input_sample_rate", "output_sample_rate", "codec_sample_rate")],
            [16000, 16000, 16000],
        )
        self.assertEqual(meta["caller"], "sip:alice@127.0.0.1:5070")
        self.assertEqual(json.loads(json.dumps(meta)), meta)
        self.assertNotIn("_auto_greeted:agent", engine_meta)
        self.assertEqual(engine_meta["x_headers"], {"X-Tenant": "t1"})

    def test_coroutine_callbacks(self) -> None:
        """
        A coroutine C{on_call} runs as a task: the session-ready callbacks
        do not wait for it, and its exception is logged, not raised into
        the engine.
        """
        order: list[str] = []
        release = asyncio.Event

        async def scenario(backend: Any, clock: Any) -> list[str]:
            gate = release()

            @backend.on_call
            async def on_call(session: Any) -> None:
                order.append("call started")
                await gate.wait()
                order.append("call finished")
                raise ValueError("app bug")

            backend.on_session_ready(lambda s: order.append("ready"))
            await answer(backend)
            await turn()
            gate.set()
            await turn()
            return order

        with capturedLogs() as events:
            result = run_backend(scenario)
        self.assertEqual(result, ["ready", "call started", "call finished"])
        failures = [e for e in events if "log_failure" in e]
        self.assertEqual(len(failures), 1)
        self.assertIsInstance(failures[0]["log_failure"].value, ValueError)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_on_call_replaces(self) -> None:
        """
        As in roomkit, C{on_call} keeps one callback: the last registered.
        It returns the function, so it works as a decorator.
        """
        calls: list[str] = []

        async def scenario(backend: Any, clock: Any) -> list[str]:
            first = backend.on_call(lambda s: calls.append("first"))
            backend.on_call(lambda s: calls.append("second"))
            assert callable(first)
            await answer(backend)
            return calls

        self.assertEqual(run_backend(scenario), ["second"])

    def test_callbacks_on_loop_thread(self) -> None:
        """
        Every callback runs on the thread running the loop.
        """
        threads: set[int] = set()

        async def scenario(backend: Any, clock: Any) -> tuple[set[int], int]:
            record = lambda *a: threads.add(threading.get_ident())  # noqa: E731
            backend.on_call(record)
            backend.on_session_ready(record)
            backend.on_audio_received(record)
            backend.on_dtmf_received(record)
            backend.on_call_disconnected(record)
            call = await answer(backend)
            call.hear(b"\x00\x00" * 160)
            call.press("5")
            backend.fake_engine.end(call, "remote_bye")
            return threads, threading.get_ident()

        seen, loop_thread = run_backend(scenario)
        self.assertEqual(seen, {loop_thread})


class EndTests(SynchronousTestCase):
    """
    Which ends of a call reach the disconnect callbacks.
    """

    def test_remote_ends(self) -> None:
        """
        A remote BYE, an ACK timeout, the media watchdogs and session
        expiry each fire every disconnect callback exactly once, after
        cleanup: the session is C{ENDED}, no longer listed, and says why.
        """
        for reason in REMOTE_REASONS:
            seen: list[tuple[Any, ...]] = []

            async def scenario(
                backend: Any, clock: Any, reason: str = reason, seen: list[Any] = seen
            ) -> Any:
                def gone(session: Any) -> None:
                    seen.append(
                        (
                            session.state,
                            backend.get_session(session.id),
                            session.metadata.get("disconnect_reason"),
                        )
                    )

                backend.on_call_disconnected(gone)
                backend.on_client_disconnected(gone)
                call = await answer(backend)
                backend.fake_engine.end(call, reason)
                backend.fake_engine.end(call, reason)
                await turn()
                return backend.list_sessions(call.room_id)

            self.assertEqual(run_backend(scenario), [], reason)
            self.assertEqual(seen, [(rk.VoiceSessionState.ENDED, None, reason)] * 2, reason)

    def test_bye_reason(self) -> None:
        """
        The RFC 3326 Reason of a remote BYE reaches the session's metadata
        before the callbacks run.
        """

        async def scenario(backend: Any, clock: Any) -> list[Any]:
            reasons: list[Any] = []
            backend.on_call_disconnected(lambda s: reasons.append(s.metadata.get("bye_reason")))
            call = await answer(backend)
            backend.fake_engine.end(
                call, "remote_bye", bye_reason={"cause": 16, "text": "Normal call clearing"}
            )
            return reasons

        self.assertEqual(run_backend(scenario), [{"cause": 16, "text": "Normal call clearing"}])

    def test_local_disconnect(self) -> None:
        """
        C{disconnect(session, cause=, text=)} hangs up with the Q.850
        reason, ends the session and fires no disconnect callback; a second
        call does nothing, and one for a session the backend does not know
        only marks it C{ENDED}, as roomkit's does.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            gone: list[Any] = []
            backend.on_call_disconnected(gone.append)
            call = await answer(backend)
            session = backend.get_session(call.session_id)
            await backend.disconnect(session, cause=21, text="Call rejected")
            await backend.disconnect(session)
            stranger = rk.VoiceSession(
                id="nope",
                room_id="r",
                participant_id="p",
                channel_id="v",
                state=rk.VoiceSessionState.ACTIVE,
            )
            await backend.disconnect(stranger)
            assert stranger.state is rk.VoiceSessionState.ENDED
            return gone, call.hangups, session.state, backend.get_session(session.id)

        gone, hangups, state, listed = run_backend(scenario)
        self.assertEqual(gone, [])
        self.assertEqual(hangups, [(21, "Call rejected")])
        self.assertEqual(state, rk.VoiceSessionState.ENDED)
        self.assertIsNone(listed)

    def test_remote_bye_during_local_hangup(self) -> None:
        """
        A BYE from the far end that crosses ours is still a local end: the
        application asked for it, so no disconnect callback.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            from twisted.internet.defer import Deferred

            gone: list[Any] = []
            backend.on_call_disconnected(gone.append)
            call = await answer(backend)
            call.hangup_result = Deferred()
            session = backend.get_session(call.session_id)
            hanging = asyncio.ensure_future(backend.disconnect(session))
            await turn()
            backend.fake_engine.end(call, "remote_bye")
            call.hangup_result.callback(None)
            await hanging
            return gone, session.state

        self.assertEqual(run_backend(scenario), ([], rk.VoiceSessionState.ENDED))

    def test_disconnect_after_remote_bye(self) -> None:
        """
        C{kit.leave(session)} after a remote BYE calls C{disconnect}: a
        no-op, no second BYE.
        """

        async def scenario(backend: Any, clock: Any) -> list[Any]:
            call = await answer(backend)
            session = backend.get_session(call.session_id)
            backend.fake_engine.end(call, "remote_bye")
            await backend.disconnect(session)
            return call.hangups

        self.assertEqual(run_backend(scenario), [])

    def test_failed_hangup(self) -> None:
        """
        A hang-up that fails is logged; the session still ends.
        """

        async def scenario(backend: Any, clock: Any) -> Any:
            from twisted.internet.defer import fail

            call = await answer(backend)
            call.hangup_result = fail(RuntimeError("transport gone"))
            session = backend.get_session(call.session_id)
            await backend.disconnect(session)
            return session.state, backend.get_session(session.id)

        with capturedLogs() as events:
            self.assertEqual(run_backend(scenario), (rk.VoiceSessionState.ENDED, None))
        [failure] = [e for e in events if "log_failure" in e]
        self.assertIsInstance(failure["log_failure"].value, RuntimeError)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_unsubscribe(self) -> None:
        """
        C{on_client_disconnected} returns an idempotent unsubscribe
        function; C{on_call_disconnected} returns the callback itself and
        both share one list, called in registration order.
        """

        async def scenario(backend: Any, clock: Any) -> list[str]:
            seen: list[str] = []
            first = backend.on_call_disconnected(lambda s: seen.append("first"))
            unsubscribe = backend.on_client_disconnected(lambda s: seen.append("dropped"))
            backend.on_client_disconnected(lambda s: seen.append("kept"))
            assert callable(first)
            unsubscribe()
            unsubscribe()
            call = await answer(backend)
            backend.fake_engine.end(call, "media_lost")
            return seen

        self.assertEqual(run_backend(scenario), ["first", "kept"])


class LifecycleTests(SynchronousTestCase):
    """
    C{start}, C{close} and what the engine is given.
    """

    def test_close_hangs_up_quietly(self) -> None:
        """
        C{close()} stops the engine without draining (roomkit hangs up at
        once), ends every session without disconnect callbacks, emits a
        local BYE trace for each, and may be called again.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            gone: list[Any] = []
            traces: list[Any] = []
            backend.on_call_disconnected(gone.append)
            backend.set_trace_emitter(traces.append)
            engine = backend.fake_engine
            first = await answer(backend)
            second = await answer(backend)
            sessions = [backend.get_session(c.session_id) for c in (first, second)]
            await asyncio.gather(backend.close(), backend.close())
            await backend.close()
            byes = [t.summary for t in traces if t.summary.startswith("BYE")]
            return gone, engine.stops, [s.state for s in sessions], byes

        gone, stops, states, byes = run_backend(scenario)
        self.assertEqual(gone, [])
        self.assertEqual(stops, [0])
        self.assertEqual(states, [rk.VoiceSessionState.ENDED] * 2)
        self.assertEqual(byes, ["BYE (local hangup)"] * 2)

    def test_close_before_start(self) -> None:
        """
        Closing a backend that never started does nothing.
        """

        async def scenario(backend: Any, clock: Any) -> Any:
            await backend.close()
            return backend.fake_engine

        self.assertIsNone(run_backend(scenario, start=False))

    def test_start_twice(self) -> None:
        """
        A second C{start()} while running is refused; after C{close()} the
        backend starts again with a fresh engine.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            first = backend.fake_engine
            try:
                await backend.start()
            except RuntimeError as e:
                refused = str(e)
            await backend.close()
            await backend.start()
            return refused, first is not backend.fake_engine, backend.fake_engine.started

        refused, fresh, started = run_backend(scenario)
        self.assertIn("already started", refused)
        self.assertTrue(fresh)
        self.assertTrue(started)

    def test_close_drains_callback_tasks(self) -> None:
        """
        C{close()} waits for the tasks of coroutine callbacks; one calling
        C{close()} itself is not waited for (it would wait on itself).
        """
        finished: list[str] = []

        async def scenario(backend: Any, clock: Any) -> list[str]:
            gate = asyncio.Event()

            @backend.on_call
            async def on_call(session: Any) -> None:
                await gate.wait()
                finished.append("on_call")

            async def closer(session: Any) -> None:
                await backend.close()
                finished.append("closer")

            backend.on_session_ready(closer)
            await answer(backend)
            await turn()
            gate.set()
            await backend.close()
            await turn()
            return finished

        self.assertEqual(sorted(run_backend(scenario)), ["closer", "on_call"])

    def test_other_reactor_installed(self) -> None:
        """
        In a process where another reactor is already installed, C{start()}
        raises ReactorMismatchError naming it and saying how to install the
        asyncio reactor instead (run in a fresh interpreter).
        """
        script = (
            "import asyncio\n"
            "from twisted.internet import selectreactor\n"
            "selectreactor.install()\n"
            "from roomkit_sip.asyncio import ReactorMismatchError, SIPVoiceBackend\n"
            "async def main():\n"
            "    backend = SIPVoiceBackend(local_sip_addr=('127.0.0.1', 0))\n"
            "    try:\n"
            "        await backend.start()\n"
            "    except ReactorMismatchError as e:\n"
            "        print(e)\n"
            "    await backend.close()\n"
            "asyncio.run(main())\n"
        )
        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONPATH": str(root)}
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=root,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("SelectReactor", done.stdout)
        self.assertIn("asyncioreactor.install(asyncio.get_running_loop())", done.stdout)

    def test_engine_config(self) -> None:
        """
        The engine gets the SIP address, the codec preference and no
        authenticator when no credentials are configured.
        """

        async def scenario(backend: Any, clock: Any) -> Any:
            return backend.fake_engine.config

        config = run_backend(
            scenario, local_sip_addr=("127.0.0.1", 5099), supported_codecs=[rk.PT_PCMA]
        )
        self.assertEqual((config.sip_host, config.sip_port), ("127.0.0.1", 5099))
        self.assertEqual([c.encoding_name for c in config.codecs], ["PCMA"])
        self.assertIsNone(config.auth)

    def test_engine_authenticator(self) -> None:
        """
        With C{auth_users} the engine gets a digest authenticator for
        C{auth_realm}; C{has_auth()} says so.
        """

        async def scenario(backend: Any, clock: Any) -> Any:
            return backend.has_auth(), backend.fake_engine.config.auth

        has_auth, auth = run_backend(scenario, auth_users={"alice": "s3cret"}, auth_realm="pbx")
        self.assertTrue(has_auth)
        self.assertIsInstance(auth, DigestAuthenticator)
        self.assertEqual(auth.realm, "pbx")

    def test_listening_log(self) -> None:
        """
        C{start()} logs the address it listens on, as roomkit does.
        """

        async def scenario(backend: Any, clock: Any) -> None:
            return None

        with capturedLogs() as events:
            run_backend(scenario, local_sip_addr=("127.0.0.1", 5071))
        lines = [e for e in events if e.get("log_format", "").startswith("SIP backend listening")]
        self.assertEqual([(e["host"], e["port"]) for e in lines], [("127.0.0.1", 5071)])
        self.assertEqual(lines[0]["log_level"], LogLevel.info)

    def test_dial_and_register_need_start(self) -> None:
        """
        C{dial()} and C{register()} before C{start()} raise RuntimeError.
        """

        async def scenario(backend: Any, clock: Any) -> list[str]:
            errors = []
            for attempt in (
                backend.dial("sip:bob@example.com", "sip:bot@example.com", ("127.0.0.1", 5060)),
                backend.register(("127.0.0.1", 5060), username="u", password="p"),
            ):
                try:
                    await attempt
                except RuntimeError as e:
                    errors.append(str(e))
            return errors

        errors = run_backend(scenario, start=False)
        self.assertEqual(len(errors), 2)
        self.assertTrue(all("start()" in e for e in errors))


class SessionTests(SynchronousTestCase):
    """
    C{connect}, C{get_session}, C{list_sessions}, C{get_codec_rate}.
    """

    def test_connect_rebinds(self) -> None:
        """
        C{connect()} returns the answered session named by
        C{metadata["session_id"]}, moved to the given room and channel.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            call = await answer(backend)
            original = backend.get_session(call.session_id)
            session = await backend.connect(
                "support", "alice", "phone", metadata={"session_id": call.session_id}
            )
            return (
                session is original,
                session.room_id,
                session.channel_id,
                backend.list_sessions("support") == [session],
            )

        self.assertEqual(run_backend(scenario), (True, "support", "phone", True))

    def test_connect_unknown(self) -> None:
        """
        Without a live C{metadata["session_id"]}, C{connect()} raises
        ValueError.
        """

        async def scenario(backend: Any, clock: Any) -> int:
            raised = 0
            for metadata in (None, {}, {"session_id": "nope"}):
                try:
                    await backend.connect("r", "p", "voice", metadata=metadata)
                except ValueError:
                    raised += 1
            return raised

        self.assertEqual(run_backend(scenario), 3)

    def test_codec_rate(self) -> None:
        """
        C{get_codec_rate} is 16000 for G.722, 8000 for G.711 and for an
        unknown session.
        """

        async def scenario(backend: Any, clock: Any) -> list[int]:
            wide = await answer(backend, codec="G722")
            narrow = await answer(backend, codec="PCMA")
            return [
                backend.get_codec_rate(wide.session_id),
                backend.get_codec_rate(narrow.session_id),
                backend.get_codec_rate("unknown"),
            ]

        self.assertEqual(run_backend(scenario), [16000, 8000, 8000])

    def test_list_sessions_by_room(self) -> None:
        """
        C{list_sessions(room_id)} lists the live sessions of that room only.
        """

        async def scenario(backend: Any, clock: Any) -> list[list[str]]:
            a = await answer(backend, x_headers={"X-Room-ID": "r1"})
            await answer(backend, x_headers={"X-Room-ID": "r2"})
            c = await answer(backend, x_headers={"X-Room-ID": "r1"})
            before = [s.id for s in backend.list_sessions("r1")]
            backend.fake_engine.end(a, "remote_bye")
            after = [s.id for s in backend.list_sessions("r1")]
            assert after == [c.session_id]
            return [before, after, [s.id for s in backend.list_sessions("r3")]]

        before, after, empty = run_backend(scenario)
        self.assertEqual(len(before), 2)
        self.assertEqual(len(after), 1)
        self.assertEqual(empty, [])


class InboundTests(SynchronousTestCase):
    """
    Audio and key presses from the caller.
    """

    def test_audio_frames(self) -> None:
        """
        Each decoded frame reaches the primary callback (replaced by a new
        registration) and every subscriber as a bytes C{AudioFrame} at the
        codec rate; an unsubscribed listener hears nothing more.
        """

        async def scenario(backend: Any, clock: Any) -> dict[str, list[Any]]:
            heard: dict[str, list[Any]] = {"old": [], "primary": [], "sub": [], "gone": []}
            backend.on_audio_received(lambda s, f: heard["old"].append(f))
            backend.on_audio_received(lambda s, f: heard["primary"].append((s.id, f)))
            backend.subscribe_audio_received(lambda s, f: heard["sub"].append(f))
            unsubscribe = backend.subscribe_audio_received(lambda s, f: heard["gone"].append(f))
            call = await answer(backend, codec="G722")
            call.hear(bytearray(b"\x01\x02" * 320))
            unsubscribe()
            call.hear(b"\x03\x04" * 320)
            return heard

        heard = run_backend(scenario)
        self.assertEqual(heard["old"], [])
        self.assertEqual(len(heard["gone"]), 1)
        self.assertEqual(len(heard["sub"]), 2)
        sid, frame = heard["primary"][0]
        self.assertIsInstance(frame, rk.AudioFrame)
        self.assertEqual(type(frame.data), bytes)
        self.assertEqual(
            (frame.data, frame.sample_rate, frame.channels, frame.sample_width),
            (b"\x01\x02" * 320, 16000, 1, 2),
        )
        self.assertEqual(len(heard["primary"]), 2)

    def test_audio_after_end_dropped(self) -> None:
        """
        Audio the engine reports for a call that has ended is dropped.
        """

        async def scenario(backend: Any, clock: Any) -> int:
            heard: list[Any] = []
            backend.on_audio_received(lambda s, f: heard.append(f))
            call = await answer(backend)
            backend.fake_engine.end(call, "remote_bye")
            backend.fake_engine.handler.audio_received(call, b"\x00\x00" * 160)
            return len(heard)

        self.assertEqual(run_backend(scenario), 0)

    def test_audio_received_callback_property(self) -> None:
        """
        roomkit's C{audio_received_callback} property reports the primary
        callback.
        """
        backend = rk.SIPVoiceBackend()
        self.assertIsNone(backend.audio_received_callback)

        def callback(session: Any, frame: Any) -> None:
            pass

        self.assertIsNone(backend.on_audio_received(callback))
        self.assertIs(backend.audio_received_callback, callback)

    def test_dtmf(self) -> None:
        """
        Each key press reaches every DTMF callback once, as a
        C{DTMFEvent(digit, duration_ms)} with full confidence.
        """

        async def scenario(backend: Any, clock: Any) -> list[Any]:
            pressed: list[Any] = []
            registered = backend.on_dtmf_received(lambda s, e: pressed.append(("a", e)))
            assert callable(registered)
            backend.on_dtmf_received(lambda s, e: pressed.append(("b", e)))
            call = await answer(backend)
            for digit in "12#*09":
                call.press(digit, 160)
            return pressed

        pressed = run_backend(scenario)
        self.assertEqual([(who, e.digit) for who, e in pressed[:2]], [("a", "1"), ("b", "1")])
        self.assertEqual("".join(e.digit for who, e in pressed if who == "a"), "12#*09")
        event = pressed[0][1]
        self.assertIsInstance(event, rk.DTMFEvent)
        self.assertEqual((event.duration_ms, event.confidence), (160.0, 1.0))

    def test_codec_change_updates_metadata(self) -> None:
        """
        When the engine reports a new codec rate mid-call (a re-INVITE),
        frames carry the new rate and the session's rate keys follow.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            rates: list[int] = []
            backend.on_audio_received(lambda s, f: rates.append(f.sample_rate))
            call = await answer(backend, codec="PCMU")
            call.hear(b"\x00\x00" * 160)
            call.sample_rate = 16000
            call.metadata.update(codec="G722", codec_sample_rate=16000)
            call.hear(b"\x00\x00" * 320)
            meta = backend.get_session(call.session_id).metadata
            return rates, meta["codec_sample_rate"], meta["input_sample_rate"], meta["codec"]

        self.assertEqual(run_backend(scenario), ([8000, 16000], 16000, 16000, "G722"))


class OutboundMiscTests(SynchronousTestCase):
    """
    C{send_dtmf} and C{send_transcription}.
    """

    def test_send_dtmf(self) -> None:
        """
        C{send_dtmf} hands the digit to the call; for an unknown session
        it logs a warning and does not raise.
        """

        async def scenario(backend: Any, clock: Any) -> list[Any]:
            call = await answer(backend)
            session = backend.get_session(call.session_id)
            backend.send_dtmf(session, "7")
            backend.send_dtmf(session, "#", duration_ms=250)
            stranger = rk.VoiceSession(id="x", room_id="r", participant_id="p", channel_id="v")
            backend.send_dtmf(stranger, "1")
            return call.dtmf_sent

        with capturedLogs() as events:
            self.assertEqual(run_backend(scenario), [("7", 160), ("#", 250)])
        warnings = [e for e in events if e.get("log_level") == LogLevel.warn]
        self.assertEqual([e["session_id"] for e in warnings], ["x"])

    def test_send_transcription(self) -> None:
        """
        Transcriptions are logged with their role, as roomkit does.
        """

        async def scenario(backend: Any, clock: Any) -> None:
            call = await answer(backend)
            session = backend.get_session(call.session_id)
            await backend.send_transcription(session, "hello", "user")
            await backend.send_transcription(session, "hi there", "assistant")

        with capturedLogs() as events:
            run_backend(scenario)
        lines = [(e["label"], e["text"]) for e in events if "label" in e]
        self.assertEqual(lines, [("User", "hello"), ("Assistant", "hi there")])

    def test_fake_backend_class_is_a_backend(self) -> None:
        """
        The test helper builds on the real class (guarding the tests here).
        """
        self.assertTrue(issubclass(fake_backend_class(), rk.SIPVoiceBackend))


class RealtimeTransportTests(SynchronousTestCase):
    """
    roomkit's other consumer of a SIP backend, C{SIPRealtimeTransport}
    (speech-to-speech channels), works over this one (contract §6.3).
    """

    def setUp(self) -> None:
        require_roomkit(self)

    def test_transport(self) -> None:
        """
        The transport hears the call's audio, sends bytes through the
        backend's queue, waits for playback, cuts it, sees played frames and
        the caller hanging up.
        """
        from roomkit.voice.realtime.sip_transport import SIPRealtimeTransport

        async def scenario(backend: Any, clock: Any) -> dict[str, Any]:
            out: dict[str, Any] = {"audio": [], "played": [], "gone": []}
            transport = SIPRealtimeTransport(backend)
            transport.on_audio_received(lambda s, pcm: out["audio"].append(pcm))
            transport.on_audio_played(lambda s, f: out["played"].append(f.metadata))
            transport.on_client_disconnected(lambda s: out["gone"].append(s.id))
            call = await answer(backend, codec="G722")
            sip_session = backend.get_session(call.session_id)
            realtime = rk.VoiceSession(id="rt-1", room_id="r", participant_id="p", channel_id="rt")
            await transport.accept(realtime, sip_session)
            out["rate"] = realtime.metadata["transport_sample_rate"]
            call.hear(b"\x01\x00" * 320)
            await transport.send_audio(realtime, b"\x02\x00" * 3200)
            transport.end_of_response(realtime)
            out["playing"] = transport.is_playing(realtime)
            waiting = asyncio.ensure_future(transport.wait_playback(realtime))
            await until(clock, waiting.done)
            out["completed"] = waiting.result()
            await transport.send_audio(realtime, b"\x02\x00" * 32000)
            await until(clock, lambda: bool(call.sent) and len(call.sent) > 12)
            transport.interrupt(realtime)
            await turn()
            out["after_cut"] = backend.is_playing(sip_session)
            backend.fake_engine.end(call, "remote_bye")
            await transport.close()
            return out

        out = run_backend(scenario)
        self.assertEqual(out["rate"], 16000)
        self.assertEqual(out["audio"], [b"\x01\x00" * 320])
        self.assertTrue(out["playing"])
        self.assertIs(out["completed"], True)
        self.assertFalse(out["after_cut"])
        self.assertEqual(out["gone"], ["rt-1"])
        self.assertTrue(out["played"])
        self.assertEqual(out["played"][-1]["playback_ended"], True)
