"""
Outbound audio through L{roomkit_sip.asyncio.SIPVoiceBackend}: the two
forms of C{send_audio}, cancellation, C{wait_playback}, C{is_playing},
resampling, C{send_audio_sync} and the C{on_audio_played} reports, on a
fake engine whose pacer runs on a fake clock.
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase

import roomkit_sip.asyncio as rk
from tests.aio._fake_engine import FRAME_S, advance, answer, run_backend, turn, until


def tone(rate: int, ms: int, hz: float = 440.0, amplitude: int = 8000) -> bytes:
    count = rate * ms // 1000
    return b"".join(
        struct.pack("<h", round(amplitude * math.sin(2 * math.pi * hz * i / rate)))
        for i in range(count)
    )


async def chunks(
    pcm: bytes, rate: int, size: int = 640, fail: Exception | None = None
) -> AsyncIterator[Any]:
    for i in range(0, len(pcm), size):
        yield rk.AudioChunk(data=pcm[i : i + size], sample_rate=rate)
    if fail is not None:
        raise fail


async def started(backend: Any, codec: str = "PCMU") -> tuple[Any, Any]:
    call = await answer(backend, codec=codec)
    return call, backend.get_session(call.session_id)


class StreamTests(SynchronousTestCase):
    """
    C{send_audio(session, async iterator of AudioChunk)}.
    """

    def test_returns_after_playout(self) -> None:
        """
        The call returns once the audio has gone out at real-time pace:
        one 20 ms frame per 20 ms of clock, and not before the last one.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            call, session = await started(backend)
            start = clock.seconds()
            task = asyncio.ensure_future(
                backend.send_audio(session, chunks(tone(8000, 1000), 8000))
            )
            await until(clock, task.done)
            elapsed = clock.seconds() - start
            await task
            times = [t for t, _ in call.sent]
            return elapsed, len(call.sent), times, b"".join(p for _, p in call.sent)

        elapsed, frames, times, sent = run_backend(scenario)
        self.assertEqual(frames, 50)
        self.assertGreaterEqual(elapsed, 1.0 - FRAME_S)
        self.assertLess(elapsed, 1.2)
        steps = {round(b - a, 3) for a, b in zip(times, times[1:])}
        self.assertEqual(steps, {FRAME_S})
        self.assertEqual(sent, tone(8000, 1000))

    def test_cancel_audio(self) -> None:
        """
        C{cancel_audio} during a stream stops RTP at once (no frame after
        it), makes C{send_audio} return quietly and returns True.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            call, session = await started(backend)
            task = asyncio.ensure_future(
                backend.send_audio(session, chunks(tone(8000, 2000), 8000))
            )
            await advance(clock, 0.5)
            before = len(call.sent)
            was_playing = await backend.cancel_audio(session)
            await advance(clock, 0.2)
            after = len(call.sent)
            await until(clock, task.done)
            return was_playing, before, after, task.result(), backend.is_playing(session)

        was_playing, before, after, result, playing = run_backend(scenario)
        self.assertTrue(was_playing)
        self.assertGreater(before, 10)
        self.assertLessEqual(after - before, 2)
        self.assertIsNone(result)
        self.assertFalse(playing)

    def test_cancel_while_tts_is_slow(self) -> None:
        """
        A stream whose producer is still computing (its first 100 ms played,
        nothing queued) is playing; cancelling it ends C{send_audio} without
        waiting for the producer.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            call, session = await started(backend)
            never = asyncio.Event()

            async def slow() -> AsyncIterator[Any]:
                yield rk.AudioChunk(data=tone(8000, 100), sample_rate=8000)
                await never.wait()
                yield rk.AudioChunk(data=b"", sample_rate=8000)

            task = asyncio.ensure_future(backend.send_audio(session, slow()))
            await advance(clock, 0.3)
            playing = backend.is_playing(session)
            cancelled = await backend.cancel_audio(session)
            await turn()
            return playing, len(call.sent), cancelled, task.done()

        self.assertEqual(run_backend(scenario), (True, 5, True, True))

    def test_caller_cancellation_propagates(self) -> None:
        """
        Cancelling the task that called C{send_audio} raises
        CancelledError in it: only C{cancel_audio} ends a stream quietly.
        """

        async def scenario(backend: Any, clock: Any) -> bool:
            call, session = await started(backend)
            task = asyncio.ensure_future(
                backend.send_audio(session, chunks(tone(8000, 2000), 8000))
            )
            await advance(clock, 0.2)
            task.cancel()
            await turn()
            return task.cancelled()

        self.assertTrue(run_backend(scenario))

    def test_iterator_exception(self) -> None:
        """
        An exception from the chunk stream reaches the caller, after the
        audio it delivered has been played.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            call, session = await started(backend)
            boom = RuntimeError("TTS provider failed")
            task = asyncio.ensure_future(
                backend.send_audio(session, chunks(tone(8000, 300), 8000, fail=boom))
            )
            await until(clock, task.done)
            return task.exception(), len(call.sent)

        error, frames = run_backend(scenario)
        self.assertIsInstance(error, RuntimeError)
        self.assertEqual(str(error), "TTS provider failed")
        self.assertEqual(frames, 15)

    def test_refuses_encoded_chunks(self) -> None:
        """
        A chunk that is not 16-bit PCM is refused with ValueError: read as
        PCM it would play noise.
        """

        async def scenario(backend: Any, clock: Any) -> BaseException | None:
            call, session = await started(backend)

            async def mulaw() -> AsyncIterator[Any]:
                yield rk.AudioChunk(data=b"\xff" * 160, sample_rate=8000, format="mulaw")

            task = asyncio.ensure_future(backend.send_audio(session, mulaw()))
            await until(clock, task.done)
            return task.exception()

        error = run_backend(scenario)
        self.assertIsInstance(error, ValueError)
        self.assertIn("mulaw", str(error))

    def test_session_ends_mid_stream(self) -> None:
        """
        A remote hang-up during a stream makes C{send_audio} return quietly.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            call, session = await started(backend)
            task = asyncio.ensure_future(
                backend.send_audio(session, chunks(tone(8000, 2000), 8000))
            )
            await advance(clock, 0.3)
            backend.fake_engine.end(call, "remote_bye")
            await turn()
            return task.done(), task.result() if task.done() else "pending"

        self.assertEqual(run_backend(scenario), (True, None))

    def test_unknown_session(self) -> None:
        """
        Audio for a session that is not live is dropped with a warning.
        """

        async def scenario(backend: Any, clock: Any) -> None:
            stranger = rk.VoiceSession(id="gone", room_id="r", participant_id="p", channel_id="v")
            await backend.send_audio(stranger, chunks(tone(8000, 100), 8000))
            await backend.send_audio(stranger, b"\x00\x00" * 160)

        with capturedLogs() as events:
            run_backend(scenario)
        warned = [e for e in events if e.get("log_level") == LogLevel.warn]
        self.assertEqual([e["session_id"] for e in warned], ["gone", "gone"])


class ResampleTests(SynchronousTestCase):
    """
    Chunks at another rate than the codec's are converted, not played at
    the wrong speed.
    """

    def test_downsample_on_g711(self) -> None:
        """
        One second of 16 kHz audio on a PCMU call is one second of RTP.
        """

        async def scenario(backend: Any, clock: Any) -> int:
            call, session = await started(backend, "PCMU")
            task = asyncio.ensure_future(
                backend.send_audio(session, chunks(tone(16000, 1000), 16000, size=1001))
            )
            await until(clock, task.done)
            return len(call.sent)

        self.assertIn(run_backend(scenario), (50, 51))

    def test_upsample_on_g722(self) -> None:
        """
        One second of 8 kHz audio on a G.722 call (16 kHz PCM) is one
        second of RTP.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[int, int]:
            call, session = await started(backend, "G722")
            task = asyncio.ensure_future(
                backend.send_audio(session, chunks(tone(8000, 1000), 8000))
            )
            await until(clock, task.done)
            return len(call.sent), len(call.sent[0][1])

        frames, frame_bytes = run_backend(scenario)
        self.assertIn(frames, (50, 51))
        self.assertEqual(frame_bytes, 640)

    def test_bare_chunks(self) -> None:
        """
        As with roomkit's backend, a chunk needs only C{data}: without a
        rate it is taken to be at the codec rate.
        """

        async def scenario(backend: Any, clock: Any) -> bytes:
            call, session = await started(backend, "PCMU")
            pcm = tone(8000, 100)

            async def bare() -> AsyncIterator[Any]:
                yield SimpleNamespace(data=pcm)

            task = asyncio.ensure_future(backend.send_audio(session, bare()))
            await until(clock, task.done)
            await task
            return b"".join(p for _, p in call.sent)

        self.assertEqual(run_backend(scenario), tone(8000, 100))

    def test_matching_rate_untouched(self) -> None:
        """
        At the codec rate the PCM is sent byte for byte.
        """

        async def scenario(backend: Any, clock: Any) -> bytes:
            call, session = await started(backend, "G722")
            pcm = tone(16000, 200)
            task = asyncio.ensure_future(backend.send_audio(session, chunks(pcm, 16000, size=333)))
            await until(clock, task.done)
            return b"".join(p for _, p in call.sent)

        self.assertEqual(run_backend(scenario), tone(16000, 200))


class QueueTests(SynchronousTestCase):
    """
    C{send_audio(session, bytes)}, C{end_of_response}, C{wait_playback},
    C{is_playing}.
    """

    def test_bytes_enqueue(self) -> None:
        """
        Bytes are queued and the call returns at once; playback waits for
        the end of the response to flush a partial frame;
        C{wait_playback} then fires True.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            call, session = await started(backend)
            pcm = tone(8000, 130)
            await backend.send_audio(session, pcm)
            queued = backend.is_playing(session), len(call.sent)
            backend.end_of_response(session)
            waiting = asyncio.ensure_future(backend.wait_playback(session))
            await until(clock, waiting.done)
            return queued, waiting.result(), len(call.sent), backend.is_playing(session)

        queued, completed, frames, playing = run_backend(scenario)
        self.assertEqual(queued, (True, 0))
        self.assertIs(completed, True)
        self.assertEqual(frames, 7)
        self.assertFalse(playing)

    def test_wait_playback_interrupted(self) -> None:
        """
        C{wait_playback} fires False when C{cancel_audio} cuts the response.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            call, session = await started(backend)
            await backend.send_audio(session, tone(8000, 1000))
            backend.end_of_response(session)
            waiting = asyncio.ensure_future(backend.wait_playback(session))
            await advance(clock, 0.2)
            cancelled = await backend.cancel_audio(session)
            await turn()
            return cancelled, waiting.result()

        self.assertEqual(run_backend(scenario), (True, False))

    def test_nothing_playing(self) -> None:
        """
        With nothing playing, C{cancel_audio} returns False and
        C{wait_playback} True; for an unknown session too.
        """

        async def scenario(backend: Any, clock: Any) -> list[Any]:
            call, session = await started(backend)
            stranger = rk.VoiceSession(id="x", room_id="r", participant_id="p", channel_id="v")
            return [
                await backend.cancel_audio(session),
                await backend.wait_playback(session),
                backend.is_playing(session),
                await backend.cancel_audio(stranger),
                await backend.wait_playback(stranger),
                backend.is_playing(stranger),
            ]

        self.assertEqual(run_backend(scenario), [False, True, False, False, True, False])

    def test_send_audio_sync(self) -> None:
        """
        C{send_audio_sync} sends a frame straight away, bypassing the queue,
        converted to the codec rate.
        """

        async def scenario(backend: Any, clock: Any) -> list[int]:
            call, session = await started(backend, "PCMU")
            backend.send_audio_sync(session, rk.AudioChunk(data=tone(8000, 20), sample_rate=8000))
            backend.send_audio_sync(
                session, rk.AudioChunk(data=tone(16000, 20), sample_rate=16000)
            )
            return [len(pcm) for pcm in call.sent_now] + [len(call.sent)]

        self.assertEqual(run_backend(scenario), [320, 320, 0])


class PlayedTests(SynchronousTestCase):
    """
    C{on_audio_played}: one report per frame sent, with roomkit's metadata.
    """

    def test_reports(self) -> None:
        """
        Every frame sent is reported with its PCM, the codec rate and
        C{played_bytes}; the drained end of the response is reported with
        C{playback_ended} and no PCM.  Unsubscribing stops the reports.
        """

        async def scenario(backend: Any, clock: Any) -> tuple[Any, ...]:
            reports: list[Any] = []
            dropped: list[Any] = []
            backend.on_audio_played(lambda s, f: reports.append((s.id, f)))
            unsubscribe = backend.on_audio_played(lambda s, f: dropped.append(f))
            unsubscribe()
            unsubscribe()
            call, session = await started(backend)
            task = asyncio.ensure_future(
                backend.send_audio(session, chunks(tone(8000, 110), 8000))
            )
            await until(clock, task.done)
            return reports, dropped, call.sent, session.id

        reports, dropped, sent, sid = run_backend(scenario)
        self.assertEqual(dropped, [])
        self.assertEqual({s for s, _ in reports}, {sid})
        frames = [f for _, f in reports]
        self.assertTrue(all(isinstance(f, rk.AudioFrame) for f in frames))
        self.assertEqual([f.data for f in frames[:-1]], [p for _, p in sent])
        self.assertEqual([f.sample_rate for f in frames], [8000] * len(frames))
        self.assertEqual([f.metadata["played_bytes"] for f in frames], [320] * 5 + [160, 0])
        self.assertEqual([f.metadata["playback_ended"] for f in frames], [False] * 6 + [True])
        self.assertEqual(frames[-1].data, b"")

    def test_playback_buffer_ms(self) -> None:
        """
        C{playback_buffer_ms} is roomkit's: how far the audio sent so far
        runs ahead of the clock.  Frames sent in a burst add up; paced
        frames hold it at one frame; after a pause it starts again from
        now; a cancel resets it.
        """

        async def scenario(backend: Any, clock: Any) -> list[float]:
            buffers: list[float] = []
            backend.on_audio_played(lambda s, f: buffers.append(f.metadata["playback_buffer_ms"]))
            call, session = await started(backend)
            frame = b"\x00\x00" * 160
            for _ in range(3):
                call.report_played(frame, 320)
            clock.advance(0.02)
            call.report_played(frame, 320)
            clock.advance(1.0)
            call.report_played(frame, 320)
            await backend.cancel_audio(session)
            return buffers

        self.assertEqual(
            [round(b, 6) for b in run_backend(scenario)], [20.0, 40.0, 60.0, 60.0, 20.0, 0.0]
        )

    def test_cancel_reports_end(self) -> None:
        """
        C{cancel_audio} is always followed by one C{playback_ended} report,
        whether or not something was playing.
        """

        async def scenario(backend: Any, clock: Any) -> list[int]:
            ends: list[int] = []
            backend.on_audio_played(
                lambda s, f: ends.append(len(f.data)) if f.metadata["playback_ended"] else None
            )
            call, session = await started(backend)
            await backend.cancel_audio(session)
            await backend.send_audio(session, tone(8000, 500))
            await advance(clock, 0.2)
            await backend.cancel_audio(session)
            return ends

        self.assertEqual(run_backend(scenario), [0, 0])
