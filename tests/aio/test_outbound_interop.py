"""
The asyncio backend's C{dial()} and C{register()} against the real SIPp as
the far end (a callee that answers and echoes our RTP, a busy callee, a
registrar that challenges): the adapter over the real engine, real sockets,
real time, on the application's asyncio loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from twisted.internet.process import reapAllProcesses
from twisted.trial.unittest import SynchronousTestCase

import roomkit_sip.asyncio as rk
from tests.aio import run_scenario
from tests.aio.test_roomkit_integration import _backend, require_engine, rms, tone
from tests.interop import sipp
from tests.service._live import poll

CALL_TIMEOUT = 15.0


async def _peer(reactor: Any, scenario: str, **options: Any) -> Any:
    """SIPp serving C{scenario} on the backend's reactor, ready to be called."""
    peer = sipp.start_sipp(reactor, scenario, None, timeout_s=10.0, **options)
    await peer.when_ready().asFuture(asyncio.get_running_loop())
    return peer


async def _reaped(d: Any) -> Any:
    """
    Await C{d}, which fires when SIPp has exited.  The reactor here runs
    without signal handlers (it is the application's loop), so no SIGCHLD
    tells Twisted the child ended: if the pipes closed just before the exit,
    nothing reaps it.  Reap every 50 ms until then (at most 15 s).
    """
    future = d.asFuture(asyncio.get_running_loop())
    for _ in range(300):
        if future.done():
            break
        reapAllProcesses()
        await asyncio.wait([future], timeout=0.05)
    return await future


async def _done(peer: Any) -> Any:
    return await _reaped(peer.done)


async def _stop(peer: Any) -> None:
    await _reaped(peer.terminate())


class DialTests(SynchronousTestCase):
    def setUp(self) -> None:
        require_engine(self)
        sipp.require_sipp()

    def test_answered_echo_and_disconnect(self) -> None:
        """
        SIPp answers and echoes our RTP: C{dial()} returns an ACTIVE
        outbound session already given to C{on_call}; the tone we send comes
        back through C{on_audio_received}; C{disconnect(cause=16)} sends BYE
        with the Reason and fires no disconnect callback.
        """

        async def scenario(reactor: Any) -> dict[str, Any]:
            seen: dict[str, Any] = {"calls": [], "gone": [], "loud": 0}
            heard = asyncio.Event()
            backend = _backend(reactor)
            backend.on_call(seen["calls"].append)
            backend.on_call_disconnected(seen["gone"].append)

            def audio(session: Any, frame: Any) -> None:
                if rms(frame.data) > 1000:
                    seen["loud"] += 1
                    if seen["loud"] >= 25:
                        heard.set()

            backend.on_audio_received(audio)
            await backend.start()
            peer = await _peer(reactor, "peer_answer.xml", rtp_echo=True)
            try:
                host, port = peer.address
                session = await backend.dial(
                    f"sip:service@{host}:{port}", "sip:bot@127.0.0.1", peer.address,
                    room_id="room-7", timeout=5.0,
                )  # fmt: skip
                seen["session"] = session
                seen["state"] = session.state
                await backend.send_audio(session, tone(8000, 1.0, 1000.0))
                await asyncio.wait_for(heard.wait(), 5.0)
                await backend.disconnect(session, cause=16, text="Normal call clearing")
                seen["result"] = await _done(peer)
            finally:
                await _stop(peer)
                await backend.close()
            return seen

        seen = run_scenario(scenario, timeout=CALL_TIMEOUT)
        session = seen["session"]
        self.assertEqual(seen["state"], rk.VoiceSessionState.ACTIVE)
        self.assertEqual(seen["calls"], [session])
        self.assertEqual(session.metadata["direction"], "outbound")
        self.assertEqual(session.metadata["room_id"], "room-7")
        self.assertGreaterEqual(seen["loud"], 25)
        self.assertEqual(seen["gone"], [])
        result = seen["result"]
        result.assert_ok(calls=1)
        [bye] = result.received("BYE")
        self.assertEqual(bye.header("Reason"), ['Q.850;cause=16;text="Normal call clearing"'])

    def test_busy_is_a_runtime_error(self) -> None:
        """A 486 from the callee: C{RuntimeError} naming the status, no session."""

        async def scenario(reactor: Any) -> dict[str, Any]:
            seen: dict[str, Any] = {"calls": []}
            backend = _backend(reactor)
            backend.on_call(seen["calls"].append)
            await backend.start()
            peer = await _peer(reactor, "peer_uas_busy.xml")
            try:
                host, port = peer.address
                try:
                    await backend.dial(
                        f"sip:service@{host}:{port}", "sip:bot@127.0.0.1", peer.address,
                        timeout=5.0,
                    )  # fmt: skip
                except RuntimeError as e:
                    seen["error"] = e
                seen["result"] = await _done(peer)
                seen["sessions"] = backend.list_sessions("room")
            finally:
                await _stop(peer)
                await backend.close()
            return seen

        seen = run_scenario(scenario, timeout=CALL_TIMEOUT)
        self.assertIn("486", str(seen["error"]))
        self.assertEqual(seen["calls"], [])
        seen["result"].assert_ok(calls=1)
        self.assertEqual(len(seen["result"].received("ACK")), 1)


class RegisterTests(SynchronousTestCase):
    def setUp(self) -> None:
        require_engine(self)
        sipp.require_sipp()

    def test_register_then_close_unregisters(self) -> None:
        """
        C{register()} returns once the challenged REGISTER is accepted; the
        binding is refreshed; C{close()} removes it (Contact expires=0).
        """

        async def scenario(reactor: Any) -> Any:
            backend = _backend(reactor)
            await backend.start()
            peer = await _peer(
                reactor, "peer_registrar.xml", keys={"auth_user": "alice", "auth_password": "pw"}
            )
            try:
                await backend.register(
                    peer.address, username="alice", password="pw", domain="127.0.0.1"
                )
                # The registrar grants 2 s: the refresh comes about 1 s later.
                [registration] = backend._runtime.engine.registrations
                refreshed = poll(reactor, lambda: registration.refreshes >= 1, timeout=3.0)
                await refreshed.asFuture(asyncio.get_running_loop())
                await backend.close()
                return await _done(peer)
            finally:
                await _stop(peer)
                await backend.close()

        result = run_scenario(scenario, timeout=CALL_TIMEOUT)
        result.assert_ok(calls=1)
        registers = result.received("REGISTER")
        self.assertEqual(len(registers), 4)
        self.assertIn("expires=0", registers[-1].header("Contact")[0].replace(" ", ""))
