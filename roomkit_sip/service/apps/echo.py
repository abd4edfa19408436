# -*- test-case-name: tests.service.test_apps -*-
"""
C{--app echo}: the caller hears themselves, the quickest check that a trunk,
its codecs and both RTP directions work.

Each decoded frame goes straight back with C{send_audio_now}, not through the
paced C{send_audio} queue.  The engine's jitter buffer already releases the
caller's frames on the shared 20 ms media clock, so they arrive here evenly
spaced; queueing them again would only add the pacer's prebuffer (80 ms by
default) to the echo delay and make a continuous stream look like a series of
responses.  What the caller hears is delayed by the jitter buffer alone.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger

from roomkit_sip.engine.handler import CallHandler


class EchoApp(CallHandler):
    """Sends every frame of caller audio back at once; logs key presses."""

    _log = Logger()

    def audio_received(self, call: Any, pcm: bytes) -> None:
        call.send_audio_now(pcm)

    def dtmf_received(self, call: Any, event: Any) -> None:
        self._log.info(
            "call {session_id}: DTMF {digit} ({duration_ms} ms, {source})",
            session_id=str(call.session_id),
            digit=event.digit,
            duration_ms=event.duration_ms,
            source=event.source,
        )
