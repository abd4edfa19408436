# -*- test-case-name: tests.service.test_service -*-
"""
The service tree twistd runs, and the order in which it stops.

Stopping (SIGTERM, C{twistd} shutdown) drains instead of dropping calls:

  1. C{/healthz} turns 503, so a load balancer stops sending calls here;
  2. the engine refuses new INVITEs with 503 + Retry-After and lets live calls
     go on for up to C{--drain-timeout} seconds, then hangs them up; each call
     ends through C{call_ended}, which closes its recording and posts its
     C{call.ended} webhook;
  3. what the applications left open is closed (recordings finalised);
  4. queued webhooks get a few seconds to be delivered;
  5. the HTTP endpoints close last, so the drain stays observable.

Each step runs even if the one before failed (the failure is logged), and
the engine is given C{drain_timeout + ENGINE_STOP_GRACE} seconds at most, so
twistd always exits.  A drain in which every step succeeded is a clean stop:
the process exits 0 even though a signal started it (L{forget_stop_signal}).

While it runs, the service keeps the per-call lines of lower layers out of
the log (L{roomkit_sip.service.logfilter}).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.logger import LogEvent, Logger, PredicateResult, globalLogPublisher
from twisted.python.failure import Failure

from roomkit_sip.service.logfilter import filter_observers
from roomkit_sip.service.state import DRAINING, SERVING, STOPPED, ServiceState

#: Seconds the engine may take beyond the drain timeout (BYE transactions).
ENGINE_STOP_GRACE = 15.0
#: Seconds queued webhooks get once the calls are gone.
WEBHOOK_FLUSH_TIMEOUT = 5.0


def forget_stop_signal(reactor: Any) -> None:
    """
    Make twistd exit 0 after a SIGTERM or SIGINT that the service handled.

    Since Twisted 20.3, twistd re-raises the signal that stopped the reactor
    once the reactor has returned, so the exit status reads "killed by
    SIGTERM".  For this service that signal is the normal way to stop, and
    a drain that finished is a clean exit: operators, init systems and
    scripts should see status 0 (and a real failure, a non-zero one).

    Twisted records the signal in the reactor's private C{_exitSignal}
    attribute (C{twisted.internet.base.ReactorBase}); twistd reads it after
    C{reactor.run()} returns.  If a later Twisted drops the attribute this
    does nothing and the signal status comes back (a test pins it).
    """
    if getattr(reactor, "_exitSignal", None) in (signal.SIGTERM, signal.SIGINT):
        reactor._exitSignal = None


class EngineService(Service):
    """
    Runs a C{SIPEngine}: C{start()} binds the SIP ports, C{stop(drain_timeout)}
    drains.

    The ports are bound in L{privilegedStartService}, before twistd drops
    root privileges (C{--uid}), so the standard port 5060 works; if binding
    fails there, the process exits with a one-line message.
    """

    _log = Logger()
    name = "engine"

    def __init__(
        self, engine: Any, reactor: Any, drain_timeout: float, state: ServiceState
    ) -> None:
        self.engine = engine
        self._reactor = reactor
        self._drain_timeout = drain_timeout
        self._state = state
        self._started = False
        self._binding = False
        self._bind_error: Failure | None = None

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._started = True
        self._binding = True
        try:
            d = maybeDeferred(self.engine.start)
            d.addCallbacks(self._bound, self._bind_failed)
        finally:
            self._binding = False
        if self._bind_error is not None:
            raise SystemExit(f"roomkit-sip: cannot start: {self._bind_error.getErrorMessage()}")

    def _bound(self, _: object) -> None:
        self._state.phase = SERVING
        try:
            host, port = self.engine.local_sip_addr
        except Exception:
            host, port = "?", 0
        self._log.info("roomkit-sip serving SIP on {host}:{port}", host=str(host), port=port)

    def _bind_failed(self, failure: Failure) -> None:
        if self._binding:
            self._bind_error = failure
            return
        self._log.failure("the SIP engine failed to start; stopping", failure)
        self._reactor.stop()

    def stopService(self) -> Deferred[None]:
        super().stopService()
        if not self._started:
            return succeed(None)
        d = maybeDeferred(self.engine.stop, drain_timeout=self._drain_timeout)
        d.addTimeout(self._drain_timeout + ENGINE_STOP_GRACE, self._reactor)
        return d


class RoomkitSIPService(MultiService):
    """
    The whole service: the engine, optionally the HTTP endpoints, and the
    objects that must be closed on stop; see the module docstring for the
    order.

    @param cleanups: called after the engine stopped (e.g. finishing
        recordings); exceptions are logged.
    @param webhooks: the L{WebhookPoster}, stopped (flushed) after cleanups.
    @param live_calls: how many calls are up, for the drain's log line.
    @param log_filter: a C{twisted.logger} predicate put in front of every
        observer of C{log_publisher} from start to stop (see
        L{roomkit_sip.service.logfilter}).
    @param reactor: given, a drain in which every step succeeded clears the
        signal that stopped this reactor (L{forget_stop_signal}).
    """

    _log = Logger()
    name = "roomkit-sip"

    def __init__(
        self,
        state: ServiceState,
        engine_service: EngineService,
        http_service: IService | None = None,
        webhooks: Any = None,
        cleanups: list[Callable[[], None]] | tuple[Callable[[], None], ...] = (),
        live_calls: Callable[[], int] = lambda: 0,
        log_filter: Callable[[LogEvent], PredicateResult] | None = None,
        log_publisher: Any = globalLogPublisher,
        reactor: Any = None,
    ) -> None:
        super().__init__()
        self._reactor = reactor
        self._clean_stop = True
        self.state = state
        self.engine_service = engine_service
        self.http_service = http_service
        self.webhooks = webhooks
        self._cleanups = list(cleanups)
        self._live_calls = live_calls
        self._log_filter = log_filter
        self._log_publisher = log_publisher
        self._unfilter: Callable[[], None] | None = None
        engine_service.setServiceParent(self)
        if http_service is not None:
            http_service.setServiceParent(self)

    def startService(self) -> None:
        if self._log_filter is not None and self._unfilter is None:
            # twistd has added its observers by now (it starts logging first).
            self._unfilter = filter_observers(self._log_publisher, self._log_filter)
        super().startService()

    def stopService(self) -> Deferred[None]:
        Service.stopService(self)
        self._clean_stop = True
        self.state.phase = DRAINING
        self._log.info("draining: {live} live calls, new calls refused", live=self._live_calls())
        d = self.engine_service.stopService()
        d.addErrback(self._logged, "the engine did not stop cleanly")
        d.addCallback(lambda _: self._run_cleanups())
        if self.webhooks is not None:
            d.addCallback(lambda _: self.webhooks.stop(WEBHOOK_FLUSH_TIMEOUT))
            d.addErrback(self._logged, "stopping webhooks failed")
        if self.http_service is not None:
            d.addCallback(lambda _: self.http_service.stopService())
            d.addErrback(self._logged, "stopping the HTTP endpoints failed")
        d.addCallback(self._stopped)
        return d

    def _run_cleanups(self) -> None:
        for cleanup in self._cleanups:
            try:
                cleanup()
            except Exception:
                self._clean_stop = False
                self._log.failure(
                    "cleanup {name} failed", name=getattr(cleanup, "__qualname__", "?")
                )

    def _stopped(self, _: object) -> None:
        self.state.phase = STOPPED
        self._log.info("roomkit-sip stopped")
        if self._clean_stop and self._reactor is not None:
            forget_stop_signal(self._reactor)
        if self._unfilter is not None:
            self._unfilter()
            self._unfilter = None

    def _logged(self, failure: Failure, what: str) -> None:
        self._clean_stop = False
        self._log.failure(what, failure)
