# -*- test-case-name: tests.service.test_apps -*-
"""
C{--app prompt}: play a recorded announcement, then hang up.

The call ends with a BYE once the prompt has been sent (C{wait_playback}), or
as soon as the caller presses C{#}: an announcement line ("this number has
changed", "we are closed") the caller may skip.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger

from roomkit_sip.engine.handler import CallHandler
from roomkit_sip.service.audio_files import Prompt

#: Q.850 cause 16, "normal call clearing", in the BYE's Reason header.
NORMAL_CLEARING = 16


class PromptApp(CallHandler):
    """
    Plays one L{Prompt} to every caller and hangs up when it is over.

    @param skip_digit: the key that ends the prompt early.
    """

    _log = Logger()

    def __init__(self, prompt: Prompt, skip_digit: str = "#") -> None:
        self._prompt = prompt
        self._skip_digit = skip_digit
        self._playing: dict[int, Any] = {}

    def call_answered(self, call: Any) -> None:
        self._playing[id(call)] = call
        call.send_audio(self._prompt.pcm(call.sample_rate))
        call.end_of_response()
        d = call.wait_playback()
        d.addCallback(self._played, call)
        d.addErrback(
            lambda f: self._log.failure(
                "prompt playback of call {session_id} failed", f, session_id=str(call.session_id)
            )
        )

    def _played(self, completed: bool, call: Any) -> None:
        self._hang_up(call, "prompt played" if completed else "prompt interrupted")

    def dtmf_received(self, call: Any, event: Any) -> None:
        if event.digit == self._skip_digit and id(call) in self._playing:
            self._hang_up(call, f"caller pressed {self._skip_digit}", interrupt=True)

    def call_ended(self, call: Any) -> None:
        self._playing.pop(id(call), None)

    def _hang_up(self, call: Any, why: str, interrupt: bool = False) -> None:
        if self._playing.pop(id(call), None) is None or call.state == "ended":
            return
        if interrupt:
            # Fires wait_playback with False; _played then finds the call gone.
            call.interrupt()
        self._log.info(
            "call {session_id}: {why}, hanging up", session_id=str(call.session_id), why=why
        )
        d = call.hangup(cause=NORMAL_CLEARING, text=why)
        d.addErrback(
            lambda f: self._log.failure(
                "hangup of call {session_id} failed", f, session_id=str(call.session_id)
            )
        )
