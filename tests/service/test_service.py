"""The service tree's life: bind at start, then drain in order on stop."""

from __future__ import annotations

import signal

from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.engine.config import EngineConfig
from roomkit_sip.service.service import (
    ENGINE_STOP_GRACE,
    WEBHOOK_FLUSH_TIMEOUT,
    EngineService,
    RoomkitSIPService,
)
from roomkit_sip.service.state import DRAINING, SERVING, STARTING, STOPPED, ServiceState
from tests.service._fakes import FakeEngine


class _Steps:
    """Collaborators that note when they are asked to stop."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.webhook_result: Deferred[None] = Deferred()
        self.http_result: Deferred[None] = Deferred()
        self.flush_timeouts: list[float] = []

    def cleanup(self) -> None:
        self.order.append("cleanup")

    def stop(self, flush_timeout: float) -> Deferred[None]:  # the webhook poster
        self.order.append("webhooks")
        self.flush_timeouts.append(flush_timeout)
        return self.webhook_result


class _HTTP(Service):
    def __init__(self, steps: _Steps) -> None:
        self.steps = steps

    def stopService(self) -> Deferred[None]:
        Service.stopService(self)
        self.steps.order.append("http")
        return self.steps.http_result


class ServiceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.state = ServiceState()
        self.engine = FakeEngine(self.reactor, EngineConfig(sip_host="127.0.0.1", sip_port=5080))
        self.steps = _Steps()
        self.engine_service = EngineService(self.engine, self.reactor, 20.0, self.state)
        self.service = RoomkitSIPService(
            self.state,
            self.engine_service,
            _HTTP(self.steps),
            self.steps,
            [self.steps.cleanup],
            live_calls=lambda: 3,
            reactor=self.reactor,
        )
        self.logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def start(self) -> None:
        self.service.privilegedStartService()
        self.service.startService()

    def test_tree(self) -> None:
        self.assertEqual(self.service.name, "roomkit-sip")
        self.assertIs(self.service.getServiceNamed("engine"), self.engine_service)
        self.assertEqual(len(list(self.service)), 2)

    def test_binds_before_privileges_are_dropped(self) -> None:
        self.engine.start_result = Deferred()
        self.service.privilegedStartService()
        self.assertEqual(self.engine.starts, 1)
        self.assertEqual(self.state.phase, STARTING)
        self.service.startService()
        self.assertEqual(self.engine.starts, 1)
        self.engine.start_result.callback(None)
        self.assertEqual(self.state.phase, SERVING)
        self.assertIn(
            "roomkit-sip serving SIP on 127.0.0.1:5080", [formatEvent(e) for e in self.logged]
        )

    def test_bind_failure_exits_with_one_line(self) -> None:
        self.engine.start_result = fail(CannotListenError("0.0.0.0", 5060, OSError(98, "in use")))
        e = self.assertRaises(SystemExit, self.service.privilegedStartService)
        self.assertTrue(
            str(e).startswith("roomkit-sip: cannot start: Couldn't listen on 0.0.0.0:5060")
        )
        self.assertNotIn("\n", str(e))

    def test_late_start_failure_stops_the_reactor(self) -> None:
        self.engine.start_result = Deferred()
        self.start()
        self.engine.start_result.errback(RuntimeError("no sockets"))
        self.assertTrue(self.reactor.hasStopped)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_stop_drains_in_order(self) -> None:
        self.start()
        done = self.service.stopService()
        self.assertEqual(self.state.phase, DRAINING)
        self.assertEqual(self.engine.stops, [20.0])
        self.assertEqual(self.steps.order, [])
        self.assertIn(
            "draining: 3 live calls, new calls refused", [formatEvent(e) for e in self.logged]
        )
        self.engine.stop_result.callback(None)
        self.assertEqual(self.steps.order, ["cleanup", "webhooks"])
        self.assertEqual(self.steps.flush_timeouts, [WEBHOOK_FLUSH_TIMEOUT])
        self.steps.webhook_result.callback(None)
        self.assertEqual(self.steps.order, ["cleanup", "webhooks", "http"])
        self.assertNoResult(done)
        self.assertEqual(self.state.phase, DRAINING)
        self.steps.http_result.callback(None)
        self.successResultOf(done)
        self.assertEqual(self.state.phase, STOPPED)
        self.assertFalse(self.service.running)

    def test_engine_that_never_stops_is_given_up_on(self) -> None:
        self.start()
        self.steps.webhook_result = succeed(None)
        self.steps.http_result = succeed(None)
        done = self.service.stopService()
        self.reactor.advance(20.0 + ENGINE_STOP_GRACE - 0.1)
        self.assertEqual(self.steps.order, [])
        self.reactor.advance(0.1)
        self.assertEqual(self.steps.order, ["cleanup", "webhooks", "http"])
        self.successResultOf(done)
        self.assertEqual(len(self.flushLoggedErrors()), 1)

    def test_every_step_runs_whatever_fails(self) -> None:
        def broken() -> None:
            raise OSError("disk gone")

        self.service._cleanups.insert(0, broken)
        self.steps.webhook_result = fail(RuntimeError("pool"))
        self.steps.http_result = succeed(None)
        self.start()
        self.engine.stop_result = fail(ValueError("engine"))
        done = self.service.stopService()
        self.successResultOf(done)
        self.assertEqual(self.steps.order, ["cleanup", "webhooks", "http"])
        self.assertEqual(self.state.phase, STOPPED)
        for error in (OSError, RuntimeError, ValueError):
            self.assertEqual(len(self.flushLoggedErrors(error)), 1)

    def test_stop_before_start(self) -> None:
        """A service twistd never started must still stop cleanly."""
        self.steps.webhook_result = succeed(None)
        self.steps.http_result = succeed(None)
        self.successResultOf(self.service.stopService())
        self.assertEqual(self.engine.stops, [])

    def test_clean_drain_after_a_signal_exits_zero(self) -> None:
        """
        twistd re-raises the signal that stopped the reactor unless it is
        forgotten: a drain in which every step succeeded forgets SIGTERM
        (and SIGINT), so the process exits 0.
        """
        self.steps.webhook_result = succeed(None)
        self.steps.http_result = succeed(None)
        self.start()
        for number in (signal.SIGTERM, signal.SIGINT):
            self.reactor._exitSignal = number
            self.engine.stop_result = succeed(None)
            self.successResultOf(self.service.stopService())
            self.assertIsNone(self.reactor._exitSignal)

    def test_failed_drain_keeps_the_signal(self) -> None:
        self.steps.webhook_result = succeed(None)
        self.steps.http_result = succeed(None)
        self.start()
        self.reactor._exitSignal = signal.SIGTERM
        self.engine.stop_result = fail(ValueError("engine"))
        self.successResultOf(self.service.stopService())
        self.assertEqual(self.reactor._exitSignal, signal.SIGTERM)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_other_signals_are_kept(self) -> None:
        self.steps.webhook_result = succeed(None)
        self.steps.http_result = succeed(None)
        self.start()
        self.reactor._exitSignal = signal.SIGHUP  # not a stop this service handles
        self.engine.stop_result = succeed(None)
        self.successResultOf(self.service.stopService())
        self.assertEqual(self.reactor._exitSignal, signal.SIGHUP)

    def test_twisted_still_records_the_stop_signal(self) -> None:
        """
        The attribute forget_stop_signal clears is the one twistd reads: if
        a Twisted release renames it, this fails before operators notice.
        """
        import inspect

        from twisted.application import app
        from twisted.internet import base

        self.assertIn("_exitSignal", inspect.getsource(app.ApplicationRunner.startReactor))
        self.assertIn("_exitSignal", inspect.getsource(base.ReactorBase.sigTerm))
