# -*- test-case-name: tests.aio.test_backend_playback -*-
"""
Outbound audio of one session, with roomkit's semantics over the engine's
C{Call}.

  - C{send_audio(bytes)} queues and returns; the realtime path marks the
    end of a response with C{end_of_response} (contract §4.1).
  - C{send_audio(async iterator)} returns once the stream has been played
    out, or quietly when C{cancel_audio} cuts it; the caller's own
    cancellation propagates, and so does an exception from the iterator,
    once what it delivered has been played (roomkit's base contract).
  - C{cancel_audio} flushes the engine's queue (RTP stops within a frame)
    and reports whether anything was playing.
  - every frame the engine sends is reported to C{on_audio_played} as an
    C{AudioFrame} with roomkit's metadata.  The engine's
    C{PlayedFrame.queued_ms} counts audio still queued behind the frame;
    roomkit's C{playback_buffer_ms} is how far the audio already sent runs
    ahead of the wall clock, i.e. how long the far end still has to play.
    The latter is computed here, as roomkit does: each frame sent extends a
    playback deadline that never starts in the past.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from roomkit_sip._aio.bridge import as_awaitable
from roomkit_sip._aio.callbacks import CallbackList, CallbackRunner
from roomkit_sip._aio.resample import StreamResampler
from roomkit_sip._aio.roomkit_types import AudioFrame

__all__ = ["Playback"]

_PCM_FORMATS = frozenset({"pcm", "pcm_s16le"})


class Playback:
    """
    The outbound side of one live call.

    The codec's PCM rate, which everything queued must have, is read from
    the call each time: a re-INVITE may change the codec mid-call.
    """

    _log = Logger()

    def __init__(
        self,
        session: Any,
        call: Any,
        clock: IReactorTime,
        played: CallbackList[Any],
        runner: CallbackRunner,
    ) -> None:
        """
        @param played: the C{on_audio_played} registrations.
        """
        self._session = session
        self._call = call
        self._clock = clock
        self._played = played
        self._runner = runner
        self._streams: set[asyncio.Task[None]] = set()
        self._cut: set[asyncio.Task[None]] = set()
        self._sync_resampler = StreamResampler(call.sample_rate)
        self._until = 0.0
        self._ended_reports = 0
        self._closed = False
        self._unsubscribe = call.on_played(self._on_played)

    # -- what the backend's methods call

    def push(self, pcm: bytes) -> None:
        """Queue PCM already at the codec rate (C{send_audio(session, bytes)})."""
        if pcm and not self._closed:
            self._call.send_audio(bytes(pcm))

    async def play(self, chunks: AsyncIterator[Any]) -> None:
        """
        Play a stream of C{AudioChunk}s to the end (C{send_audio} with an
        iterator).  See the module docstring for how it ends.
        """
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(
            self._feed(chunks), name=f"roomkit-sip playback {self._session.id}"
        )
        self._streams.add(task)
        me = asyncio.current_task()
        before = me.cancelling() if me is not None else 0
        try:
            await task
        except asyncio.CancelledError:
            mine = me is not None and me.cancelling() > before
            if task in self._cut and not mine:
                return
            raise
        finally:
            self._streams.discard(task)
            self._cut.discard(task)

    async def _feed(self, chunks: AsyncIterator[Any]) -> None:
        resampler = StreamResampler(self._call.sample_rate)
        failure: Exception | None = None
        try:
            async for chunk in chunks:
                if self._closed:
                    break
                self._queue(chunk, resampler)
        except Exception as e:
            failure = e
        if not self._closed:
            self._call.end_of_response()
            await asyncio.shield(as_awaitable(self._call.wait_playback()))
        if failure is not None:
            raise failure

    def _queue(self, chunk: Any, resampler: StreamResampler) -> None:
        pcm = self._convert(chunk, resampler)
        if pcm:
            self._call.send_audio(pcm)

    def _convert(self, chunk: Any, resampler: StreamResampler) -> bytes:
        """
        A chunk's PCM at the codec rate.  Like roomkit's backend, only
        C{data} is required: a chunk without C{sample_rate} is taken to be
        at the codec rate, without C{channels} mono, without C{format} PCM.
        """
        rate = self._call.sample_rate
        kind = getattr(chunk, "format", "pcm_s16le")
        if kind not in _PCM_FORMATS:
            raise ValueError(
                f"send_audio plays 16-bit signed PCM; this chunk is {kind!r} "
                f"(accepted: {sorted(_PCM_FORMATS)})"
            )
        if not chunk.data:
            return b""
        resampler.retarget(rate)
        return resampler.convert(
            chunk.data, getattr(chunk, "sample_rate", rate), getattr(chunk, "channels", 1)
        )

    def send_now(self, chunk: Any) -> None:
        """One frame straight to RTP, past the queue (C{send_audio_sync})."""
        if self._closed:
            return
        pcm = self._convert(chunk, self._sync_resampler)
        if pcm:
            self._call.send_audio_now(pcm)

    def end_of_response(self) -> None:
        if not self._closed:
            self._call.end_of_response()

    async def wait(self) -> bool:
        """
        Wait for what was queued to be played: C{False} if it was cut.
        Cancelling the wait leaves the engine's own Deferred alone.
        """
        if self._closed:
            return True
        result = await asyncio.shield(as_awaitable(self._call.wait_playback()))
        return bool(result)

    @property
    def is_playing(self) -> bool:
        """A stream is being fed, or the engine still has audio to send."""
        if self._closed:
            return False
        return any(not t.done() for t in self._streams) or bool(self._call.is_playing)

    def cancel(self) -> bool:
        """
        Stop playback now (C{cancel_audio}): flush the engine's queue, make
        pending C{send_audio} calls return, report C{playback_ended}.

        @return: whether anything was playing.
        """
        if self._closed:
            return False
        was_playing = self.is_playing
        reports = self._ended_reports
        interrupted = bool(self._call.interrupt())
        self._cut_streams()
        self._until = 0.0
        if self._ended_reports == reports:
            # The engine reports the end of a response it cut; with nothing
            # playing there was none, and roomkit's listeners still expect one.
            self._report(b"", played_bytes=0, ended=True, queued_ms=0.0)
        return was_playing or interrupted

    def close(self) -> None:
        """The call is over: end every stream quietly and stop listening."""
        if self._closed:
            return
        self._closed = True
        self._cut_streams()
        self._unsubscribe()

    def _cut_streams(self) -> None:
        for task in self._streams:
            if not task.done():
                self._cut.add(task)
                task.cancel()

    # -- what the engine reports

    def _on_played(self, call: Any, frame: Any) -> None:
        if frame.ended:
            self._ended_reports += 1
        self._report(frame.pcm, frame.played_bytes, frame.ended, frame.queued_ms)

    def _report(self, pcm: bytes, played_bytes: int, ended: bool, queued_ms: float) -> None:
        now = self._clock.seconds()
        rate = self._call.sample_rate
        if pcm:
            self._until = max(now, self._until) + len(pcm) / (2 * rate)
        if not len(self._played):
            return
        audio = AudioFrame(
            data=bytes(pcm),
            sample_rate=rate,
            metadata={
                "played_bytes": played_bytes,
                "playback_buffer_ms": max(0.0, self._until - now) * 1000.0,
                "playback_ended": ended,
                "queued_ms": queued_ms,
            },
        )
        self._played.fire(self._runner, self._session, audio)
