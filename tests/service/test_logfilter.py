"""The per-call lines of lower layers are kept out of the log while the service runs."""

from __future__ import annotations

import inspect

from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import Logger, LogLevel, LogPublisher, PredicateResult, globalLogPublisher
from twisted.python import log as legacy_log
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.engine import call as engine_call
from roomkit_sip.engine.config import EngineConfig
from roomkit_sip.service.logfilter import (
    ENGINE_CALL_FORMATS,
    ENGINE_CALL_NAMESPACE,
    QuietCallLogs,
    filter_observers,
)
from roomkit_sip.service.service import EngineService, RoomkitSIPService
from roomkit_sip.service.state import ServiceState
from tests.service._fakes import FakeEngine


def legacy_events(case: SynchronousTestCase, *messages: str, **keys: object) -> list[dict]:
    """The events Twisted's own C{log.msg} (udp.Port's logging) produces."""
    seen = EventLoggingObserver.createWithCleanup(case, globalLogPublisher)
    for message in messages:
        legacy_log.msg(message, **keys)
    return list(seen)


class QuietCallLogsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.quiet = QuietCallLogs((30000, 30998))

    def test_rtp_port_lines_in_the_range(self) -> None:
        events = legacy_events(
            self,
            "RTPProtocol starting on 30000",
            "RTCPProtocol starting on 30001",
            "(UDP Port 30000 Closed)",
            "(UDP Port 30998 Closed)",
        )
        self.assertEqual([self.quiet(e) for e in events], [PredicateResult.no] * 4)

    def test_other_port_lines_stay(self) -> None:
        events = legacy_events(
            self,
            "SIPDatagramProtocol starting on 5060",
            "RTPProtocol starting on 29998",
            "(UDP Port 30999 Closed)",
            "(TCP Port 30002 Closed)",
            "RTPProtocol starting on 30000 (really)",
        )
        self.assertEqual([self.quiet(e) for e in events], [PredicateResult.maybe] * 5)

    def test_legacy_errors_stay(self) -> None:
        [event] = legacy_events(self, "(UDP Port 30000 Closed)", isError=1)
        self.assertEqual(self.quiet(event), PredicateResult.maybe)

    def test_engine_call_lines(self) -> None:
        seen = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        log = Logger(namespace=ENGINE_CALL_NAMESPACE)
        log.info(
            "call {session_id} answered: {caller} -> {callee}, {codec}",
            session_id="a",
            caller="sip:a@x",
            callee="sip:b@y",
            codec="PCMU",
        )
        log.info("call {session_id} ended: {why}", session_id="a", why="remote_bye")
        log.info("call {session_id}: session changed: {changes}", session_id="a", changes="hold")
        log.warn("call {session_id} ended: {why}", session_id="a", why="remote_bye")
        Logger(namespace="somewhere.else").info(
            "call {session_id} ended: {why}", session_id="a", why="x"
        )
        self.assertEqual(
            [self.quiet(e) for e in seen],
            [PredicateResult.no, PredicateResult.no] + [PredicateResult.maybe] * 3,
        )

    def test_engine_still_logs_these_lines(self) -> None:
        """If the engine rewords its per-call lines, this filter must follow."""
        source = inspect.getsource(engine_call)
        for line in ENGINE_CALL_FORMATS:
            self.assertIn(f'"{line}"', source)
        self.assertEqual(engine_call._log.namespace, ENGINE_CALL_NAMESPACE)


class FilterObserversTests(SynchronousTestCase):
    def test_wraps_then_restores(self) -> None:
        publisher = LogPublisher()
        first: list[dict] = []
        second: list[dict] = []
        publisher.addObserver(first.append)
        publisher.addObserver(second.append)
        undo = filter_observers(
            publisher, lambda e: PredicateResult.no if e.get("drop") else PredicateResult.maybe
        )
        publisher({"drop": True, "n": 1})
        publisher({"n": 2})
        undo()
        publisher({"drop": True, "n": 3})
        self.assertEqual([e["n"] for e in first], [2, 3])
        self.assertEqual([e["n"] for e in second], [2, 3])
        publisher.removeObserver(first.append)
        publisher({"n": 4})
        self.assertEqual([e["n"] for e in first], [2, 3])

    def test_wrapped_observers_can_be_removed_and_re_added(self) -> None:
        """twistd and test runners remove the observer they added, wrapped or not."""
        publisher = LogPublisher()
        received: list[dict] = []
        publisher.addObserver(received.append)
        undo = filter_observers(publisher, lambda e: PredicateResult.maybe)
        publisher.addObserver(received.append)  # already there: not added twice
        publisher({"n": 1})
        publisher.removeObserver(received.append)
        publisher({"n": 2})
        undo()
        publisher({"n": 3})
        self.assertEqual([e["n"] for e in received], [1])

    def test_publisher_without_observer_list(self) -> None:
        received: list[dict] = []
        undo = filter_observers(received.append, lambda e: PredicateResult.no)
        undo()
        self.assertEqual(received, [])


class ServiceInstallsTheFilterTests(SynchronousTestCase):
    def test_from_start_to_stop(self) -> None:
        reactor = MemoryReactorClock()
        state = ServiceState()
        engine = FakeEngine(reactor, EngineConfig(sip_host="127.0.0.1", sip_port=5080))
        publisher = LogPublisher()
        seen: list[dict] = []
        publisher.addObserver(seen.append)
        service = RoomkitSIPService(
            state,
            EngineService(engine, reactor, 0.0, state),
            log_filter=QuietCallLogs((30000, 30998)),
            log_publisher=publisher,
        )
        port_line = {
            "log_namespace": "log_legacy",
            "message": ("(UDP Port 30000 Closed)",),
            "isError": 0,
            "log_level": LogLevel.info,
        }
        publisher(dict(port_line, n=1))
        service.privilegedStartService()
        service.startService()
        publisher(dict(port_line, n=2))
        done = service.stopService()
        publisher(dict(port_line, n=3))
        engine.stop_result.callback(None)
        self.successResultOf(done)
        publisher(dict(port_line, n=4))
        self.assertEqual([e["n"] for e in seen], [1, 4])
