# -*- test-case-name: tests.service.test_apps_record -*-
"""
C{--app record}: answer, optionally play C{--prompt}, and record the caller.

Each call gets C{<record-dir>/<call-id>.wav} (16-bit mono at the codec's
sample rate: 8 kHz for G.711, 16 kHz for G.722) and a C{.json} sidecar; see
L{roomkit_sip.service.recording} for why both stay valid whatever ends the
call.  Recording starts at the answer, so the caller's words over the prompt
are kept; key presses are noted with their offset from the answer.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from roomkit_sip.engine.handler import CallHandler
from roomkit_sip.service.audio_files import Prompt
from roomkit_sip.service.callinfo import call_stats, describe, hangup_reason
from roomkit_sip.service.recording import CallRecording

#: Q.850 cause 41, "temporary failure": we could not record, try again later.
TEMPORARY_FAILURE = 41


class RecordApp(CallHandler):
    """
    Records every answered call into C{directory}.

    @param flush_interval: seconds between flushes of every open recording
        (what a killed process can lose at most).
    """

    _log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        directory: str,
        prompt: Prompt | None = None,
        flush_interval: float = 1.0,
    ) -> None:
        self._clock = clock
        self._directory = directory
        self._prompt = prompt
        self._flush_interval = flush_interval
        self._recordings: dict[int, CallRecording] = {}
        self._flusher = LoopingCall(self._flush_all)
        self._flusher.clock = clock

    def call_answered(self, call: Any) -> None:
        info = describe(call)
        try:
            recording = CallRecording(self._directory, info, self._clock.seconds())
        except OSError as e:
            self._log.error(
                "call {session_id}: cannot record into {directory} ({error}); hanging up",
                session_id=info["session_id"],
                directory=self._directory,
                error=e.strerror or str(e),
            )
            call.hangup(cause=TEMPORARY_FAILURE, text="recording unavailable").addErrback(
                lambda f: self._log.failure("hangup failed", f)
            )
            return
        self._recordings[id(call)] = recording
        self._log.info(
            "call {session_id}: recording to {path}",
            session_id=info["session_id"],
            path=recording.wav_path,
        )
        if not self._flusher.running:
            self._flusher.start(self._flush_interval, now=False)
        if self._prompt is not None:
            call.send_audio(self._prompt.pcm(call.sample_rate))
            call.end_of_response()

    def audio_received(self, call: Any, pcm: bytes) -> None:
        recording = self._recordings.get(id(call))
        if recording is not None:
            recording.write(pcm)

    def dtmf_received(self, call: Any, event: Any) -> None:
        recording = self._recordings.get(id(call))
        if recording is not None:
            recording.add_dtmf(event.digit, event.duration_ms, event.source, self._clock.seconds())

    def call_ended(self, call: Any) -> None:
        recording = self._recordings.pop(id(call), None)
        if recording is not None:
            reason, bye_reason = hangup_reason(call)
            recording.finish(self._clock.seconds(), reason, bye_reason, call_stats(call))
        self._stop_flusher_if_idle()

    def close(self) -> None:
        """
        Finish every recording still open (reason C{"service_stopped"}).  The
        engine reports C{call_ended} for each call it stops, so this only
        catches what a failed engine stop left behind.
        """
        recordings, self._recordings = list(self._recordings.values()), {}
        for recording in recordings:
            recording.finish(self._clock.seconds(), "service_stopped", None, None)
        self._stop_flusher_if_idle()

    @property
    def open_recordings(self) -> int:
        return len(self._recordings)

    def _flush_all(self) -> None:
        for recording in self._recordings.values():
            recording.flush()

    def _stop_flusher_if_idle(self) -> None:
        if not self._recordings and self._flusher.running:
            self._flusher.stop()
