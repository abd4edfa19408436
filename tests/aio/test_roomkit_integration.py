"""
The asyncio backend in real applications, called by a real SIP phone over
127.0.0.1 (L{tests.aio._sip_caller}): the real engine, real sockets, real
time.

L{RoomkitAppTests} runs a RoomKit application written exactly as for
roomkit's own backend (a C{VoiceChannel} named C{"voice"} with roomkit's
mock STT, an energy VAD and a TTS producing real tone audio, bound with
C{process_inbound(parse_voice_session(...))}); it needs roomkit, hence
Python 3.12+.  L{PlainAsyncioAppTests} runs the same call against a plain
asyncio application using only the backend's callbacks, so the path
without roomkit (Python 3.11, the package's own dataclasses) is proven the
same way.

Each call checks: the greeting's RTP arrives, is not silence and is paced
at real time; the session-started signal fired; RFC 4733 key presses
reach the application once each; talking over the greeting cancels it
(barge-in stops the RTP); the caller's hang-up reaches the application.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import os
import signal
import socket
import struct
import sys
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

import roomkit_sip.asyncio as rk
from tests.aio import run_scenario
from tests.aio._roomkit import require_roomkit
from tests.aio._sip_caller import SipCaller

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

#: Wall-clock bound of one whole call scenario.
CALL_TIMEOUT = 15.0
#: Bound on each wait for something the call should bring.
WAIT = 5.0
GREETING_S = 4.0
DIGITS = "12#"
#: RTP port range of these tests (even ports; the engine skips busy ones).
RTP_PORTS = (42000, 42400)


def tone(rate: int, seconds: float, hz: float, amplitude: int = 9000) -> bytes:
    count = int(rate * seconds)
    step = 2 * math.pi * hz / rate
    return struct.pack(
        f"<{count}h", *(round(amplitude * math.sin(step * i)) for i in range(count))
    )


def rms(pcm: bytes) -> int:
    return int(audioop.rms(pcm, 2)) if pcm else 0


async def wait_for(event: asyncio.Event, what: str) -> None:
    try:
        await asyncio.wait_for(event.wait(), WAIT)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


class CallScript:
    """
    The caller's side of the scenario, and the checks on what it received.

    @ivar greeting_started: loop time of the first greeting packet.
    """

    def __init__(self, caller: SipCaller) -> None:
        self.caller = caller
        self.greeting_started = 0.0

    async def greeting_heard(self) -> None:
        await self.caller.wait_rtp(bool, WAIT)
        self.greeting_started = self.caller.received[0].arrival

    def check_greeting(self, test: SynchronousTestCase, until: float) -> None:
        """
        The greeting up to loop time C{until}: PCMU, not silence, one 20 ms
        packet per 20 ms (no burst, no stall), consecutive sequence numbers
        and 160-tick timestamps.
        """
        packets = [p for p in self.caller.received if p.arrival <= until]
        test.assertGreater(len(packets), 20, "too little greeting audio")
        test.assertEqual({p.payload_type for p in packets}, {0})
        test.assertGreater(rms(self.caller.audio()), 2000, "the greeting is silence")
        elapsed = packets[-1].arrival - packets[0].arrival
        expected = elapsed / 0.02 + 1
        # Real-time pacing: a burst would put far more packets in the span.
        test.assertLess(abs(len(packets) - expected), 6, (len(packets), elapsed))
        gaps = sorted(b.arrival - a.arrival for a, b in zip(packets, packets[1:]))
        test.assertLess(abs(gaps[len(gaps) // 2] - 0.02), 0.005, "median packet spacing")
        seqs = [p.seq for p in packets]
        test.assertEqual([(b - a) & 0xFFFF for a, b in zip(seqs, seqs[1:])], [1] * (len(seqs) - 1))
        steps = {(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in zip(packets, packets[1:])}
        test.assertEqual(steps, {160})

    async def press_digits(self, reported: asyncio.Event) -> None:
        """Press L{DIGITS}, and wait for C{reported}: the app has them all."""
        for digit in DIGITS:
            await self.caller.press(digit)
        await wait_for(reported, "the key presses to reach the application")

    async def talk_over(self) -> float:
        """Speak (a loud 1 kHz tone) for 1.2 s; the loop time it started."""
        started = asyncio.get_running_loop().time()
        await self.caller.talk(tone(8000, 1.2, 1000.0, amplitude=12000))
        return started

    def check_cut(self, test: SynchronousTestCase, talk_started: float, cut_at: float) -> None:
        """
        The greeting stopped well before its end: its last packet came soon
        after the caller started talking, and within a few frames of the
        moment the application cut it (C{cut_at}).
        """
        greeting = [p for p in self.caller.received if p.payload_type == 0]
        last = greeting[-1].arrival
        test.assertLess(last - self.greeting_started, GREETING_S - 1.0, "greeting not cut")
        test.assertLess(last - talk_started, 1.0, "RTP went on after the caller spoke")
        test.assertLess(last - cut_at, 0.1, "RTP went on after cancel_audio")


async def _make_caller(backend: Any) -> SipCaller:
    """A phone pointed at the port the backend bound (it was given port 0)."""
    caller = SipCaller(backend.local_sip_addr)
    await caller.open()
    return caller


def _backend(reactor: Any) -> Any:
    return rk.SIPVoiceBackend(
        local_sip_addr=("127.0.0.1", 0),
        local_rtp_ip="127.0.0.1",
        rtp_port_start=RTP_PORTS[0],
        rtp_port_end=RTP_PORTS[1],
        supported_codecs=[rk.PT_PCMU],
        reactor=reactor,
    )


def require_engine(test: SynchronousTestCase) -> None:
    """Skip C{test} if the call engine cannot be imported (it is built separately)."""
    try:
        from roomkit_sip.engine import SIPEngine  # noqa: F401
    except ImportError as e:
        raise test.skipTest(f"the call engine cannot be imported: {e}") from None


class RoomkitAppTests(SynchronousTestCase):
    """
    A RoomKit application on this backend, unchanged but for the import.
    """

    def setUp(self) -> None:
        require_roomkit(self)
        require_engine(self)

    def test_call(self) -> None:
        """
        Greeting, key presses, barge-in and hang-up through a VoiceChannel.
        """
        from roomkit import HookExecution, HookTrigger, RoomKit, VoiceChannel
        from roomkit.voice import parse_voice_session
        from roomkit.voice.pipeline.config import AudioPipelineConfig
        from roomkit.voice.pipeline.vad.energy import EnergyVADProvider
        from roomkit.voice.stt.mock import MockSTTProvider
        from roomkit.voice.tts.mock import MockTTSProvider

        class ToneTTS(MockTTSProvider):
            """roomkit's mock TTS, speaking a 440 Hz tone instead of placeholder bytes."""

            async def synthesize_stream(  # type: ignore[override]
                self, text: str, **kwargs: Any
            ) -> AsyncIterator[Any]:
                self.calls.append({"text": text, "voice": None})
                pcm = tone(16000, GREETING_S, 440.0)
                for offset in range(0, len(pcm), 3200):
                    yield rk.AudioChunk(data=pcm[offset : offset + 3200], sample_rate=16000)

        seen: dict[str, Any] = {"digits": [], "traces": []}

        async def scenario(reactor: Any) -> dict[str, Any]:
            names = ("call", "started", "digits", "barge_in", "say_done", "ended")
            events = {name: asyncio.Event() for name in names}
            kit = RoomKit()
            backend = _backend(reactor)
            voice = VoiceChannel(
                "voice",
                stt=MockSTTProvider(["I need help"]),
                tts=ToneTTS(),
                backend=backend,
                pipeline=AudioPipelineConfig(vad=EnergyVADProvider(energy_threshold=1000)),
            )
            kit.register_channel(voice)

            @backend.on_call
            async def handle(session: Any) -> None:
                events["call"].set()
                await kit.process_inbound(parse_voice_session(session, channel_id="voice"))

            @backend.on_call_disconnected
            async def gone(session: Any) -> None:
                await kit.leave(session)

            @kit.hook(HookTrigger.ON_SESSION_STARTED, execution=HookExecution.ASYNC)
            async def greet(event: Any, ctx: Any) -> None:
                events["started"].set()
                seen["session"] = event.session
                await voice.say(event.session, "Welcome to the test line")
                events["say_done"].set()

            @kit.hook(HookTrigger.ON_DTMF, execution=HookExecution.ASYNC)
            async def digit(event: Any, ctx: Any) -> None:
                seen["digits"].append(event.digit)
                if len(seen["digits"]) == len(DIGITS):
                    events["digits"].set()

            @kit.hook(HookTrigger.ON_BARGE_IN, execution=HookExecution.ASYNC)
            async def barge_in(event: Any, ctx: Any) -> None:
                seen["barge_in_at"] = asyncio.get_running_loop().time()
                events["barge_in"].set()

            voice.on_trace(lambda trace: seen["traces"].append(trace.summary), protocols=["sip"])

            @kit.on("voice_session_ended")
            async def ended(event: Any) -> None:
                events["ended"].set()

            await backend.start()
            caller = await _make_caller(backend)
            script = CallScript(caller)
            try:
                answer = await caller.invite()
                seen["answer_pts"] = answer.payload_types
                await wait_for(events["call"], "on_call")
                await wait_for(events["started"], "ON_SESSION_STARTED")
                await script.greeting_heard()
                await script.press_digits(events["digits"])
                talk = asyncio.ensure_future(script.talk_over())
                await wait_for(events["barge_in"], "ON_BARGE_IN")
                await wait_for(events["say_done"], "say() to return after the barge-in")
                talk_started = await talk
                seen["greeting_until"] = seen["barge_in_at"]
                seen["talk_started"] = talk_started
                seen["script"] = script
                seen["bye_status"] = await caller.bye()
                await wait_for(events["ended"], "voice_session_ended")
                seen["listed"] = backend.list_sessions(seen["session"].room_id)
                seen["state"] = seen["session"].state
            finally:
                caller.close()
                await kit.close()
                await backend.close()
            return seen

        result = run_scenario(scenario, timeout=CALL_TIMEOUT)
        script = result["script"]
        self.assertEqual(result["answer_pts"], [0, 101])
        script.check_greeting(self, result["greeting_until"])
        self.assertEqual(result["digits"], list(DIGITS))
        script.check_cut(self, result["talk_started"], result["barge_in_at"])
        self.assertEqual(result["bye_status"], 200)
        self.assertEqual(result["listed"], [])
        self.assertEqual(result["state"], rk.VoiceSessionState.ENDED)
        traces = result["traces"]
        self.assertEqual(len(traces), 3, traces)
        self.assertTrue(traces[0].startswith("INVITE from sip:alice@127.0.0.1:"), traces)
        self.assertEqual(traces[1], "200 OK (codec=8000Hz, rtp_clock=8000Hz)")
        self.assertTrue(traces[2].startswith("BYE from sip:alice@127.0.0.1:"), traces)


class PlainAsyncioAppTests(SynchronousTestCase):
    """
    The same call against an application using only the backend's API (no
    roomkit): on Python 3.11 this is the package's own dataclasses.
    """

    def setUp(self) -> None:
        require_engine(self)

    def test_call(self) -> None:
        """
        Greeting, key presses, barge-in and hang-up through the callbacks.
        """
        seen: dict[str, Any] = {"digits": [], "ready": []}

        async def scenario(reactor: Any) -> dict[str, Any]:
            loop = asyncio.get_running_loop()
            names = ("call", "ready", "digits", "barge_in", "gone", "done")
            events = {n: asyncio.Event() for n in names}
            backend = _backend(reactor)

            async def greeting() -> AsyncIterator[Any]:
                pcm = tone(16000, GREETING_S, 440.0)
                for offset in range(0, len(pcm), 3200):
                    yield rk.AudioChunk(data=pcm[offset : offset + 3200], sample_rate=16000)

            @backend.on_call
            def on_call(session: Any) -> None:
                seen["session"] = session
                seen["state_on_call"] = session.state
                events["call"].set()

            async def speak(session: Any) -> None:
                await backend.send_audio(session, greeting())
                events["done"].set()

            def ready(session: Any) -> None:
                seen["ready"].append(session.id)
                events["ready"].set()
                loop.create_task(speak(session))

            backend.on_session_ready(ready)

            def heard(session: Any, frame: Any) -> None:
                assert isinstance(frame, rk.AudioFrame)
                if rms(frame.data) > 1000 and not events["barge_in"].is_set():
                    seen["barge_in_at"] = loop.time()
                    events["barge_in"].set()
                    loop.create_task(backend.cancel_audio(session))

            backend.on_audio_received(heard)

            def pressed(session: Any, event: Any) -> None:
                seen["digits"].append(event.digit)
                if len(seen["digits"]) == len(DIGITS):
                    events["digits"].set()

            backend.on_dtmf_received(pressed)
            backend.on_call_disconnected(lambda s: events["gone"].set())

            await backend.start()
            caller = await _make_caller(backend)
            script = CallScript(caller)
            try:
                await caller.invite()
                await wait_for(events["call"], "on_call")
                await wait_for(events["ready"], "the session-ready callback")
                await script.greeting_heard()
                await script.press_digits(events["digits"])
                talk = asyncio.ensure_future(script.talk_over())
                await wait_for(events["barge_in"], "the caller's speech")
                await wait_for(events["done"], "send_audio to return after cancel_audio")
                seen["talk_started"] = await talk
                seen["script"] = script
                seen["bye_status"] = await caller.bye()
                await wait_for(events["gone"], "the disconnect callback")
                seen["state"] = seen["session"].state
                seen["listed"] = backend.get_session(seen["session"].id)
            finally:
                caller.close()
                await backend.close()
            return seen

        result = run_scenario(scenario, timeout=CALL_TIMEOUT)
        script = result["script"]
        self.assertEqual(result["state_on_call"], rk.VoiceSessionState.ACTIVE)
        self.assertEqual(result["ready"], [result["session"].id])
        script.check_greeting(self, result["barge_in_at"])
        self.assertEqual(result["digits"], list(DIGITS))
        script.check_cut(self, result["talk_started"], result["barge_in_at"])
        self.assertEqual(result["bye_status"], 200)
        self.assertEqual(result["state"], rk.VoiceSessionState.ENDED)
        self.assertIsNone(result["listed"])


# -- the examples (docs/asyncio.md points at them, so they must work)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load_example(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ExampleTests(SynchronousTestCase):
    """
    C{examples/plain_asyncio.py} and C{examples/roomkit_app.py} answer a
    real call.
    """

    def setUp(self) -> None:
        require_engine(self)

    def test_plain_example(self) -> None:
        """
        The plain asyncio example greets, beeps on a key press and echoes
        the caller once the greeting is over.
        """
        example = _load_example("plain_asyncio")

        async def scenario(reactor: Any) -> tuple[int, int, int]:
            loop = asyncio.get_running_loop()
            backend = example.make_backend("127.0.0.1", 0, RTP_PORTS, reactor=reactor)
            chime_over = played_out(backend)
            await backend.start()
            caller = await _make_caller(backend)
            try:
                await caller.invite()
                await CallScript(caller).greeting_heard()
                await wait_for(chime_over, "the end of the chime")
                greeting = rms(caller.audio())
                mark = loop.time()
                await caller.talk(tone(8000, 0.6, 500.0))
                await caller.wait_rtp(lambda _: loud_packets(caller, mark) >= 20, WAIT)
                echoed = rms(caller.audio(since=mark))
                mark = loop.time()
                await caller.press("5")
                # 150 ms of beep: more loud packets than an echo's tail.
                await caller.wait_rtp(lambda _: loud_packets(caller, mark) >= 6, WAIT)
                beep = rms(caller.audio(since=mark))
                await caller.bye()
            finally:
                caller.close()
                await backend.close()
            return greeting, echoed, beep

        greeting, echoed, beep = run_scenario(scenario, timeout=CALL_TIMEOUT)
        self.assertGreater(greeting, 2000)
        self.assertGreater(echoed, 2000)
        self.assertGreater(beep, 1000)

    def test_plain_example_as_program(self) -> None:
        """
        Run as a program (the backend installing the asyncio reactor
        itself), the example answers a call and exits cleanly on SIGTERM.
        """
        port = _free_udp_port()

        async def scenario(_: Any) -> tuple[int | None, bytes, int]:
            process = await asyncio.create_subprocess_exec(
                sys.executable, str(EXAMPLES / "plain_asyncio.py"), "--port", str(port),
                "--rtp-ports", "42500", "42600",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(EXAMPLES.parent)},
            )  # fmt: skip
            assert process.stdout is not None
            output = b""
            try:
                while b"SIP backend listening on" not in output:
                    line = await asyncio.wait_for(process.stdout.readline(), WAIT)
                    if not line:
                        raise AssertionError(f"the example exited:\n{output.decode()}")
                    output += line
                caller = SipCaller(("127.0.0.1", port))
                await caller.open()
                try:
                    await caller.invite()
                    await CallScript(caller).greeting_heard()
                    await caller.wait_rtp(lambda received: len(received) >= 25, WAIT)
                    heard = rms(caller.audio())
                    await caller.bye()
                finally:
                    caller.close()
                process.send_signal(signal.SIGTERM)
                rest, _ = await asyncio.wait_for(process.communicate(), WAIT)
                return process.returncode, output + rest, heard
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()

        code, output, heard = run_scenario(scenario, timeout=CALL_TIMEOUT)
        self.assertEqual(code, 0, output.decode())
        self.assertIn(b"Installed the asyncio reactor", output)
        self.assertIn(b"SIP backend closed", output)
        self.assertGreater(heard, 2000)

    def test_roomkit_example(self) -> None:
        """
        The roomkit example greets (ON_SESSION_STARTED) and reads a key
        press back (ON_DTMF).
        """
        require_roomkit(self)
        example = _load_example("roomkit_app")

        async def scenario(reactor: Any) -> tuple[int, int]:
            loop = asyncio.get_running_loop()
            kit, voice, backend = example.build_app("127.0.0.1", 0, RTP_PORTS, reactor=reactor)
            greeting_over = played_out(backend)
            await backend.start()
            caller = await _make_caller(backend)
            try:
                await caller.invite()
                await CallScript(caller).greeting_heard()
                await wait_for(greeting_over, "the end of the greeting")
                greeting = rms(caller.audio())
                mark = loop.time()
                await caller.press("7")
                await caller.wait_rtp(lambda _: loud_packets(caller, mark) >= 10, WAIT)
                read_back = rms(caller.audio(since=mark))
                await caller.bye()
            finally:
                caller.close()
                await kit.close()
                await backend.close()
            return greeting, read_back

        greeting, read_back = run_scenario(scenario, timeout=CALL_TIMEOUT)
        self.assertGreater(greeting, 2000)
        self.assertGreater(read_back, 2000)


def played_out(backend: Any) -> asyncio.Event:
    """An event set when the backend reports the end of a response it played."""
    done = asyncio.Event()
    backend.on_audio_played(lambda s, frame: frame.metadata["playback_ended"] and done.set())
    return done


def loud_packets(caller: SipCaller, since: float) -> int:
    """How many audio packets since loop time C{since} were not quiet."""
    return sum(
        1
        for p in caller.received
        if p.payload_type == 0
        and p.arrival >= since
        and rms(audioop.ulaw2lin(p.payload, 2)) > 1000
    )


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
