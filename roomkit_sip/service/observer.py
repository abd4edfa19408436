# -*- test-case-name: tests.service.test_observer -*-
"""
The handler the engine talks to: it logs, counts and reports every call, then
passes each event on to the application.

Keeping this out of the applications means an operator's own handler
(C{--app module:factory}) gets the same log lines, metrics and webhooks as the
built-in ones without a line of code.  Caller audio is passed straight on: the
observer adds nothing to the per-frame path but one method call.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from roomkit_sip.interfaces import ICallHandler
from roomkit_sip.service.callinfo import call_stats, describe, hangup_reason, iso_time

#: Per-call counters (keys of C{Call.stats()}) summed over all calls for metrics.
SUMMED_STATS = ("packets_in", "packets_out", "lost")
#: Per-call jitter estimate in C{Call.stats()}.
JITTER_STAT = "jitter_ms"


@dataclass
class LiveCall:
    """An answered call not yet ended, as the service shows it."""

    call: Any
    info: dict[str, Any]
    started: float

    def snapshot(self, now: float) -> dict[str, Any]:
        """What C{/calls} lists for this call."""
        return {
            **self.info,
            "started": iso_time(self.started),
            "duration_s": round(now - self.started, 3),
            "stats": call_stats(self.call),
        }


@implementer(ICallHandler)
class CallObserver:
    """
    Wraps C{app}, an L{ICallHandler}: what C{app} returns from
    C{incoming_call} (an answer, a rejection, C{MANUAL}, a Deferred) is
    returned unchanged, and its exceptions reach the engine, which logs them.

    @param post_event: called with each call event (a JSON-able dict) for the
        webhook; must return at once.
    @ivar answered: calls answered since start.
    @ivar dtmf: key presses since start.
    @ivar ended_by_reason: ended calls by C{disconnect_reason}.
    """

    _log = Logger()

    def __init__(
        self,
        app: Any,
        clock: IReactorTime,
        post_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.app = app
        self._clock = clock
        self._post_event = post_event
        self._live: dict[int, LiveCall] = {}
        self.answered = 0
        self.dtmf = 0
        self.ended_by_reason: Counter[str] = Counter()
        self._ended_sums = dict.fromkeys(SUMMED_STATS, 0.0)

    # -- ICallHandler

    def incoming_call(self, incoming: Any) -> Any:
        return self.app.incoming_call(incoming)

    def call_answered(self, call: Any) -> None:
        info = describe(call)
        live = LiveCall(call, info, self._clock.seconds())
        self._live[id(call)] = live
        self.answered += 1
        self._log.info(
            "call {session_id} started: {caller} -> {callee}, {codec} {sample_rate} Hz",
            **info,
        )
        self._post("call.started", info)
        self.app.call_answered(call)

    def audio_received(self, call: Any, pcm: bytes) -> None:
        self.app.audio_received(call, pcm)

    def dtmf_received(self, call: Any, event: Any) -> None:
        self.dtmf += 1
        live = self._live.get(id(call))
        offset = None if live is None else round((self._clock.seconds() - live.started) * 1000)
        self._post(
            "call.dtmf",
            live.info if live is not None else describe(call),
            digit=str(event.digit),
            duration_ms=event.duration_ms,
            source=str(event.source),
            offset_ms=offset,
        )
        self.app.dtmf_received(call, event)

    def call_ended(self, call: Any) -> None:
        live = self._live.pop(id(call), None)
        info = live.info if live is not None else describe(call)
        now = self._clock.seconds()
        duration = None if live is None else round(now - live.started, 3)
        reason, bye_reason = hangup_reason(call)
        stats = call_stats(call)
        self.ended_by_reason[reason] += 1
        for key in SUMMED_STATS:
            self._ended_sums[key] += _counter(stats.get(key))
        self._log.info(
            "call {session_id} ended: {reason} after {duration_s} s "
            "(RTP in {packets_in}, out {packets_out}, lost {lost})",
            **info,
            reason=reason,
            bye_reason=bye_reason,
            duration_s=duration,
            packets_in=stats.get("packets_in"),
            packets_out=stats.get("packets_out"),
            lost=stats.get("lost"),
            stats=stats,
        )
        self._post(
            "call.ended",
            info,
            reason=reason,
            bye_reason=bye_reason,
            duration_s=duration,
            stats=stats,
        )
        self.app.call_ended(call)

    # -- the service's view of calls

    def live_calls(self) -> list[LiveCall]:
        """Answered calls not yet ended, oldest first."""
        return sorted(self._live.values(), key=lambda live: live.started)

    def rtp_totals(self) -> dict[str, float]:
        """
        L{SUMMED_STATS} over every call since start: final values of ended
        calls plus current values of live ones, so the sums only grow.
        """
        totals = dict(self._ended_sums)
        for live in self._live.values():
            stats = call_stats(live.call)
            for key in SUMMED_STATS:
                totals[key] += _counter(stats.get(key))
        return totals

    def live_jitter_ms(self) -> list[float]:
        """The jitter estimate of each live call that has one."""
        values = []
        for live in self._live.values():
            jitter = call_stats(live.call).get(JITTER_STAT)
            if isinstance(jitter, int | float) and not isinstance(jitter, bool):
                values.append(float(jitter))
        return values

    def _post(self, kind: str, info: dict[str, Any], **fields: Any) -> None:
        if self._post_event is None:
            return
        event = {
            "event": kind,
            "id": uuid.uuid4().hex,
            "timestamp": iso_time(self._clock.seconds()),
            "call": info,
            **fields,
        }
        try:
            self._post_event(event)
        except Exception:
            self._log.failure("posting {kind} failed", kind=kind)


def _counter(value: Any) -> float:
    """A stats value as a counter increment: numbers only, never negative
    (RFC 3550's cumulative loss goes below zero with duplicates)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(0.0, float(value))
    return 0.0
