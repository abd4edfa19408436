# -*- test-case-name: tests.aio.test_backend_calls -*-
"""
The engine's call handler for the asyncio backend: engine events in,
roomkit callbacks out, on the loop thread (the reactor runs on the loop).

The order on answer is roomkit's (contract §0.4, §3.2): an C{ACTIVE}
session with the metadata of contract §2.1 exists first, then C{on_call}
runs, then every session-ready callback; without the last,
C{ON_SESSION_STARTED} never fires.  The engine reports the end of every
answered call, local hang-ups included; roomkit reports only the ends the
application did not cause (remote BYE, ACK timeout, media watchdogs,
session expiry), once, after cleanup (contract §3.6).  L{CallEvents}
makes that translation.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from roomkit_sip._aio.admission import screen_invite
from roomkit_sip._aio.callbacks import CallbackRunner
from roomkit_sip._aio.playback import Playback
from roomkit_sip._aio.roomkit_types import (
    AudioFrame,
    DTMFEvent,
    VoiceSession,
    VoiceSessionState,
)
from roomkit_sip._aio.sessions import Entry, Listeners, SessionTable
from roomkit_sip._aio.trace import TraceEmitter
from roomkit_sip.interfaces import ICallHandler

__all__ = ["CallEvents"]

#: Ends of a call the application caused; the rest reach disconnect callbacks.
_LOCAL_REASONS = frozenset({"local_hangup", "shutdown"})

#: INVITEs kept for their trace between C{incoming_call} and the answer.  An
#: INVITE that is never answered (CANCEL, 488) leaves its entry behind, so
#: the table is bounded; the oldest go first.
_PENDING_INVITES = 256


@implementer(ICallHandler)
class CallEvents:
    """
    Translates one engine's calls into sessions and callbacks.

    @param invite_filter: returns the filter currently installed, or C{None}.
    """

    _log = Logger()

    def __init__(
        self,
        table: SessionTable,
        listeners: Listeners,
        runner: CallbackRunner,
        traces: TraceEmitter,
        clock: IReactorTime,
        invite_filter: Callable[[], Callable[..., object] | None],
    ) -> None:
        self._table = table
        self._listeners = listeners
        self._runner = runner
        self._traces = traces
        self._clock = clock
        self._invite_filter = invite_filter
        self._invites: OrderedDict[str, bytes] = OrderedDict()

    # -- ICallHandler

    def incoming_call(self, incoming: Any) -> Any:
        if self._traces.active and getattr(incoming, "request", None) is not None:
            self._invites[incoming.call_id] = bytes(incoming.request)
            while len(self._invites) > _PENDING_INVITES:
                self._invites.popitem(last=False)
        return screen_invite(self._invite_filter(), incoming, self._runner)

    def call_answered(self, call: Any) -> None:
        if call.direction == "outbound":
            return  # dial() adopts its own calls, with the channel it was given
        raw = self._invites.pop(call.call_id, None)
        entry = self.adopt(call, "voice")
        self._traces.invite(entry.session, raw)
        self._traces.answered(entry.session, call.sample_rate, call.clock_rate, None)
        self.announce(entry)

    def audio_received(self, call: Any, pcm: bytes) -> None:
        entry = self._table.find(call)
        if entry is None:
            return
        rate = call.sample_rate
        if entry.session.metadata.get("codec_sample_rate") != rate:
            self._codec_changed(entry)
        listeners = self._listeners
        if listeners.audio is None and not len(listeners.audio_subscribers):
            return
        frame = AudioFrame(data=bytes(pcm), sample_rate=rate, channels=1, sample_width=2)
        if listeners.audio is not None:
            self._runner.call_user(listeners.audio, entry.session, frame)
        listeners.audio_subscribers.fire(self._runner, entry.session, frame)

    def _codec_changed(self, entry: Entry) -> None:
        """A re-INVITE changed the codec: the session's rate keys follow."""
        rate = entry.call.sample_rate
        meta = entry.session.metadata
        for key in ("input_sample_rate", "output_sample_rate", "codec_sample_rate"):
            meta[key] = rate
        for key in ("codec", "rtp_clock_rate"):
            if key in entry.call.metadata:
                meta[key] = entry.call.metadata[key]
        self._log.info(
            "SIP session {session_id} now at {rate} Hz", session_id=entry.session.id, rate=rate
        )

    def dtmf_received(self, call: Any, event: Any) -> None:
        entry = self._table.find(call)
        if entry is None:
            return
        digit = DTMFEvent(digit=event.digit, duration_ms=float(event.duration_ms))
        self._listeners.dtmf.fire(self._runner, entry.session, digit)

    def call_ended(self, call: Any) -> None:
        entry = self._table.find(call)
        if entry is None or not self._table.finish(entry):
            return  # ended by disconnect()/close(), or a dial never adopted
        reason = call.metadata.get("disconnect_reason")
        self._log.info(
            "SIP call ended: session={session_id} reason={reason}",
            session_id=entry.session.id,
            reason=reason,
        )
        if entry.local or reason in _LOCAL_REASONS:
            return
        if reason == "remote_bye":
            self._traces.remote_bye(entry.session)
        self._listeners.disconnected.fire(self._runner, entry.session)

    # -- shared with dial()

    def adopt(self, call: Any, channel_id: str, **metadata: Any) -> Entry:
        """
        Make the session of an answered call and start tracking it.

        @param metadata: keys added to the engine's (C{direction} of a dial).
        """
        meta = dict(call.metadata)
        meta.update(metadata)
        rate = call.sample_rate
        meta.setdefault("backend", "sip")
        meta.setdefault("call_id", call.call_id)
        meta.setdefault("room_id", call.room_id)
        for key in ("input_sample_rate", "output_sample_rate", "codec_sample_rate"):
            meta.setdefault(key, rate)
        if isinstance(meta.get("x_headers"), dict):
            meta["x_headers"] = dict(meta["x_headers"])
        session = VoiceSession(
            id=call.session_id,
            room_id=call.room_id,
            participant_id=call.participant_id,
            channel_id=channel_id,
            state=VoiceSessionState.ACTIVE,
            metadata=meta,
        )
        playback = Playback(session, call, self._clock, self._listeners.played, self._runner)
        entry = Entry(session=session, call=call, playback=playback)
        self._table.add(entry)
        self._log.info(
            "SIP call answered: session={session_id} call_id={call_id} from={caller} "
            "codec={codec} ({rate} Hz)",
            session_id=session.id,
            call_id=call.call_id,
            caller=meta.get("caller"),
            codec=meta.get("codec"),
            rate=rate,
        )
        return entry

    def announce(self, entry: Entry) -> None:
        """C{on_call}, then every session-ready callback."""
        session = entry.session
        if self._listeners.on_call is not None:
            self._runner.call_user(self._listeners.on_call, session)
        self._listeners.session_ready.fire(self._runner, session)
