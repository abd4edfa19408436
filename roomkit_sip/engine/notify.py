# -*- test-case-name: tests.engine.test_engine -*-
"""
Calls into the application's L{roomkit_sip.interfaces.ICallHandler}, each
guarded: an exception or a failed Deferred is logged with the call it
concerns and never reaches the engine, the reactor or another call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

__all__ = ["Notifier"]

#: Module-level, not per instance: an event's log_source would keep the
#: object (a call and its media) alive in any observer that retains events.
_log = Logger()


def as_deferred(call: Callable[..., Any], *args: Any) -> Deferred[Any]:
    """C{call(*args)} as a Deferred: values, Deferreds and coroutines alike."""
    d = maybeDeferred(call, *args)

    def unwrap(result: Any) -> Any:
        if inspect.iscoroutine(result):
            return ensureDeferred(result)
        return result

    return d.addCallback(unwrap)


class Notifier:
    """
    @param handler: returns the current handler (the engine's is settable).
    @param stats: the L{EngineStats} whose C{dtmf_events} key presses count.
    """

    def __init__(self, handler: Callable[[], Any], stats: Any = None) -> None:
        self._handler = handler
        self._stats = stats

    def incoming_call(self, incoming: Any) -> Deferred[Any]:
        """The handler's verdict on C{incoming}, as a Deferred (errors fail it)."""
        handler = self._handler()
        if handler is None:
            return maybeDeferred(lambda: None)
        return as_deferred(handler.incoming_call, incoming)

    def _event(self, method: str, call: Any, *args: Any) -> None:
        handler = self._handler()
        if handler is None:
            return
        try:
            result = getattr(handler, method)(call, *args)
        except Exception:
            _log.failure(
                "call handler {method} failed for call {session_id}",
                method=method,
                session_id=getattr(call, "session_id", "?"),
            )
            return
        if isinstance(result, Deferred) or inspect.iscoroutine(result):
            d = ensureDeferred(result) if inspect.iscoroutine(result) else result
            d.addErrback(self._failed, method, call)

    def _failed(self, failure: Failure, method: str, call: Any) -> None:
        _log.failure(
            "call handler {method} failed for call {session_id}",
            failure,
            method=method,
            session_id=getattr(call, "session_id", "?"),
        )

    def call_answered(self, call: Any) -> None:
        self._event("call_answered", call)

    def audio(self, call: Any, pcm: bytes) -> None:
        handler = self._handler()
        if handler is None:
            return
        try:
            handler.audio_received(call, pcm)
        except Exception:
            _log.failure(
                "call handler audio_received failed for call {session_id}",
                session_id=call.session_id,
            )

    def dtmf(self, call: Any, event: Any) -> None:
        if self._stats is not None:
            self._stats.dtmf_events += 1
        self._event("dtmf_received", call, event)

    def call_ended(self, call: Any) -> None:
        self._event("call_ended", call)
