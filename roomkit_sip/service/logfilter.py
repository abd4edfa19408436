# -*- test-case-name: tests.service.test_logfilter -*-
"""
One log line when a call starts and one when it ends, nothing else per call.

Besides the observer's two lines (L{roomkit_sip.service.observer}), three
layers would log every call: Twisted's UDP ports say C{RTPProtocol starting
on 30000} and C{(UDP Port 30000 Closed)} for the RTP and RTCP sockets (four
lines), and the engine says C{call ... answered} and C{call ... ended: ...}.
The observer's lines carry all of that and more (codec, duration, packets),
so while the service runs those events are withheld from the log observers.
Nothing else is: the SIP port's own lines, warnings, errors and every other
engine event still reach the log.

twistd adds its observer (C{--logfile}, C{--syslog}, C{--logger}) to the
global publisher before the service starts, and twisted.logger has no public
way to put a filter in front of an observer already added; so
L{filter_observers} wraps the publisher's observers in place and puts them
back when the service stops.  On a Twisted whose publisher is built
differently it changes nothing and says so once, at debug level.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogEvent,
    Logger,
    LogLevel,
    PredicateResult,
)

_log = Logger()

#: Per-call lines of the engine that the observer's lines replace.
ENGINE_CALL_NAMESPACE = "roomkit_sip.engine.call"
ENGINE_CALL_FORMATS = frozenset(
    {
        "call {session_id} answered: {caller} -> {callee}, {codec}",
        "call {session_id} ended: {why}",
    }
)

_STARTING = re.compile(r"(RTPProtocol|RTCPProtocol) starting on (\d+)")
_CLOSED = re.compile(r"\(UDP Port (\d+) Closed\)")


class QuietCallLogs:
    """
    The predicate: L{PredicateResult.no} for the per-call lines above,
    L{PredicateResult.maybe} for everything else.

    @param rtp_ports: C{(start, end)} of C{--rtp-ports}; the port lines are
        withheld only for RTP (C{[start, end)}) and RTCP (up to C{end})
        ports, so a SIP or HTTP port's lines always show.
    """

    def __init__(self, rtp_ports: tuple[int, int]) -> None:
        self._first, self._last = rtp_ports

    def __call__(self, event: LogEvent) -> PredicateResult:
        namespace = event.get("log_namespace")
        if namespace == "log_legacy":
            return PredicateResult.no if self._rtp_port_line(event) else PredicateResult.maybe
        if (
            namespace == ENGINE_CALL_NAMESPACE
            and event.get("log_level") is LogLevel.info
            and event.get("log_format") in ENGINE_CALL_FORMATS
        ):
            return PredicateResult.no
        return PredicateResult.maybe

    def _rtp_port_line(self, event: LogEvent) -> bool:
        if event.get("isError"):
            return False
        message = event.get("message")
        if not isinstance(message, tuple) or len(message) != 1 or not isinstance(message[0], str):
            return False
        text = message[0]
        found = _STARTING.fullmatch(text)
        port = found.group(2) if found else None
        if port is None:
            closed = _CLOSED.fullmatch(text)
            port = closed.group(1) if closed else None
        return port is not None and self._first <= int(port) <= self._last


class _Filtered(FilteringLogObserver):
    """
    A filtered observer that stands for the one it wraps: it compares equal
    to it, so whoever added that observer (twistd, a test runner) still
    removes it with C{removeObserver(observer)} while it is wrapped.
    """

    def __init__(
        self, observer: ILogObserver, predicate: Callable[[LogEvent], PredicateResult]
    ) -> None:
        super().__init__(observer, [predicate])
        self.wrapped = observer

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        if isinstance(other, _Filtered):
            return False
        return bool(self.wrapped == other)

    def __hash__(self) -> int:
        return hash(self.wrapped)


def filter_observers(
    publisher: Any, predicate: Callable[[LogEvent], PredicateResult]
) -> Callable[[], None]:
    """
    Put C{predicate} in front of every observer of C{publisher} (a
    C{twisted.logger.LogPublisher}).

    @return: undoes it: each observer still wrapped gets its place back.
        Meanwhile C{publisher.removeObserver(observer)} removes an observer
        and its wrapper alike.
    """
    observers = getattr(publisher, "_observers", None)
    if not isinstance(observers, list):
        _log.debug("log publisher {publisher!r} cannot be filtered", publisher=publisher)
        return lambda: None
    wrappers: list[_Filtered] = []
    for index, observer in enumerate(observers):
        wrapper = _Filtered(observer, predicate)
        wrappers.append(wrapper)
        observers[index] = wrapper

    def undo() -> None:
        for wrapper in wrappers:
            for index, current in enumerate(observers):
                if current is wrapper:
                    observers[index] = wrapper.wrapped
        wrappers.clear()

    return undo
