# -*- test-case-name: tests.aio.test_bridge,tests.aio.test_reactor_install -*-
"""
Run Twisted on the application's asyncio loop and move results across.

roomkit calls every backend callback on its event-loop thread and creates
tasks on the running loop (contract §5), so the engine must run on that same
thread: L{reactor_for_loop} gives the adapter an
L{AsyncioSelectorReactor} driven by the loop.  L{as_awaitable} and
L{as_deferred} carry results, errors and cancellation between Deferreds and
asyncio, and L{LoopThread} catches any call into the application from the
wrong thread.

Measured with Twisted 26.10 on CPython 3.11-3.13 (C{tests/aio}): on a loop
that is already running, an C{AsyncioSelectorReactor} serves C{callLater},
C{listenUDP}, C{listenTCP}, C{connectTCP} and C{callFromThread} without
C{reactor.run()}, because timers map onto C{loop.call_at} and sockets onto
C{loop.add_reader}.  What needs the reactor to be I{running} is everything
behind C{callWhenRunning}: startup triggers and the thread pool, hence name
resolution (C{reactor.resolve}, C{HostnameEndpoint}) and C{deferToThread},
which otherwise wait forever.  L{start_on_loop} provides that without
C{run()}.  C{reactor.stop()} must never be used here: its shutdown calls
C{crash()}, which stops the application's loop.

So the adapter's C{close()} stops the engine (which closes its own SIP and
RTP ports), drains the callback tasks and leaves the reactor alone: it stays
running for a later C{start()} on the same loop, and its pool threads are
daemons.  A reactor the caller passed in is the caller's to release, with
L{dispose_reactor} for a private one.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable
from typing import Any, TypeVar, overload

from twisted.internet import error
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.base import ReactorBase
from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger
from twisted.python import threadable
from twisted.python.failure import Failure

__all__ = [
    "LoopThread",
    "ReactorMismatchError",
    "WrongThreadError",
    "as_awaitable",
    "as_deferred",
    "dispose_reactor",
    "reactor_for_loop",
    "start_on_loop",
]

_log = Logger()

_T = TypeVar("_T")
_R = TypeVar("_R")

_HOW_TO_FIX = """\
Either install the asyncio reactor on the loop that runs the application before anything \
imports twisted.internet.reactor:

    import asyncio
    from twisted.internet import asyncioreactor

    async def main():
        asyncioreactor.install(asyncio.get_running_loop())   # first statement
        ...                                                  # then import and start the rest

  (or, when a module imports twisted.internet.reactor at import time: \
loop = asyncio.new_event_loop(); asyncioreactor.install(loop) at the top of the program, then \
loop.run_until_complete(main()) instead of asyncio.run(main()))

or, from code running on the loop, give the backend a reactor of its own for that loop (also \
the way to run several loops, e.g. one per test):

    from twisted.internet.asyncioreactor import AsyncioSelectorReactor
    backend = SIPVoiceBackend(..., reactor=AsyncioSelectorReactor(asyncio.get_running_loop()))\
"""


class ReactorMismatchError(RuntimeError):
    """
    The reactor at hand cannot run on the application's asyncio loop.

    Raised instead of silently running Twisted on another thread or loop,
    where every roomkit callback would break (contract §5).  The message says
    what to change.
    """


class WrongThreadError(RuntimeError):
    """
    Application code was about to be called from a thread that does not run
    its event loop.
    """


def _installed_reactor() -> object | None:
    """
    @return: the global reactor if one is installed, without installing the
        default one as C{import twisted.internet.reactor} would.
    """
    return sys.modules.get("twisted.internet.reactor")


def _loop_of(reactor: AsyncioSelectorReactor) -> asyncio.AbstractEventLoop:
    # Twisted has no public accessor for the loop an AsyncioSelectorReactor
    # wraps; this attribute has carried it since the reactor was added (17.x).
    loop: asyncio.AbstractEventLoop = reactor._asyncioEventloop
    return loop


def _require_running_here(loop: asyncio.AbstractEventLoop, what: str) -> None:
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not loop:
        raise RuntimeError(
            f"{what} must be called from a coroutine running on {loop!r} "
            "(for example from the backend's async start())"
        )


def _describe(reactor: object) -> str:
    cls = type(reactor)
    return f"{cls.__module__}.{cls.__qualname__}"


@overload
def reactor_for_loop(loop: asyncio.AbstractEventLoop) -> AsyncioSelectorReactor: ...


@overload
def reactor_for_loop(loop: asyncio.AbstractEventLoop, reactor: _R) -> _R: ...


def reactor_for_loop(loop: asyncio.AbstractEventLoop, reactor: object = None) -> Any:
    """
    Get the reactor that runs the engine on C{loop}, the loop of the caller.

    Without C{reactor}: reuse the installed C{AsyncioSelectorReactor} when it
    wraps C{loop}; install one on C{loop} when no reactor is installed yet (so
    Twisted code that imports C{twisted.internet.reactor} later shares it);
    raise L{ReactorMismatchError} saying what to do when another reactor, or
    an asyncio reactor of another loop, is installed.

    With C{reactor} (embedding, tests, several loops in one process): an
    C{AsyncioSelectorReactor} must wrap C{loop}; a fake that is not a
    L{ReactorBase} (such as L{roomkit_sip.testing.MemoryUDPReactor}) is
    returned untouched, its driver being responsible for threads; a real
    reactor of another kind is refused because it would call the application
    from its own thread.

    An asyncio reactor is then put in the running state with L{start_on_loop}.

    @param loop: the running loop; this must be called from a coroutine on it.
    @param reactor: an explicit reactor to use instead of the global one.
    @raise ReactorMismatchError: if the reactor cannot serve C{loop}.
    @raise RuntimeError: if C{loop} is not the loop running this call.
    """
    _require_running_here(loop, "reactor_for_loop()")
    if reactor is None:
        reactor = _installed_reactor()
        if reactor is None:
            from twisted.internet import asyncioreactor

            asyncioreactor.install(loop)
            reactor = _installed_reactor()
            _log.info("Installed the asyncio reactor on {loop!r}", loop=loop)
        _check_installed(reactor, loop)
    else:
        _check_explicit(reactor, loop)
    if isinstance(reactor, AsyncioSelectorReactor):
        start_on_loop(reactor)
    return reactor


def _check_installed(reactor: object, loop: asyncio.AbstractEventLoop) -> None:
    if not isinstance(reactor, AsyncioSelectorReactor):
        raise ReactorMismatchError(
            f"roomkit-sip's asyncio backend runs Twisted on the application's asyncio loop, "
            f"but twisted.internet.reactor is already installed as {_describe(reactor)} "
            "(something imported twisted.internet.reactor, or installed another reactor, "
            "before the backend started).\n" + _HOW_TO_FIX
        )
    other = _loop_of(reactor)
    if other is not loop:
        state = "closed" if other.is_closed() else "not running this code"
        raise ReactorMismatchError(
            "twisted.internet.reactor is an AsyncioSelectorReactor bound to another event "
            f"loop ({other!r}, {state}), not to the running loop {loop!r}. This happens when "
            "asyncioreactor.install() ran without the running loop (it then creates a loop of "
            "its own, and asyncio.run() makes another) or when the process runs several loops "
            "one after the other.\n" + _HOW_TO_FIX
        )


def _check_explicit(reactor: object, loop: asyncio.AbstractEventLoop) -> None:
    if isinstance(reactor, AsyncioSelectorReactor):
        if _loop_of(reactor) is not loop:
            raise ReactorMismatchError(
                f"The reactor passed in wraps {_loop_of(reactor)!r}, not the running loop "
                f"{loop!r}; create it with AsyncioSelectorReactor(asyncio.get_running_loop())."
            )
    elif isinstance(reactor, ReactorBase):
        raise ReactorMismatchError(
            f"The reactor passed in is a {_describe(reactor)}, which would run the engine and "
            "call the application outside the asyncio loop thread; pass "
            "AsyncioSelectorReactor(asyncio.get_running_loop()) instead."
        )


def _daemon_thread(*args: Any, **kwargs: Any) -> threading.Thread:
    return threading.Thread(*args, daemon=True, **kwargs)


def start_on_loop(reactor: AsyncioSelectorReactor) -> None:
    """
    Put C{reactor} in the running state without C{reactor.run()}.

    C{run()} is C{startRunning()} plus C{loop.run_forever()}; the application
    already runs the loop, so only the first half is done here, without
    signal handlers (the application owns SIGINT/SIGTERM).  Startup triggers
    and C{callWhenRunning} callables fire and the thread pool starts, so name
    resolution works.  Its workers are daemon threads: nothing here ever runs
    the reactor's shutdown (see the module docstring), so a non-daemon worker
    would keep the interpreter from exiting after C{asyncio.run()} returns.

    A reactor that is not the installed one does not claim the process-wide
    Twisted I/O thread.  Idempotent; a reactor that is already running is
    left as it is.

    @raise ReactorMismatchError: if the reactor was stopped before, since
        Twisted reactors cannot restart.
    """
    if reactor.running:
        return
    pool = reactor.getThreadPool()
    if not pool.started:
        pool.threadFactory = _daemon_thread  # type: ignore[assignment]
    io_thread = threadable.ioThread
    try:
        reactor.startRunning(installSignalHandlers=False)
    except error.ReactorAlreadyRunning:
        # Started, its startup triggers still waiting on a Deferred.
        return
    except error.ReactorNotRestartable as e:
        raise ReactorMismatchError(
            f"{_describe(reactor)} on {_loop_of(reactor)!r} was stopped and cannot run again"
        ) from e
    finally:
        if reactor is not _installed_reactor():
            threadable.ioThread = io_thread


def dispose_reactor(reactor: AsyncioSelectorReactor) -> None:
    """
    Release everything a private (not installed) asyncio reactor holds.

    For reactors created with C{AsyncioSelectorReactor(loop)} and passed to
    L{reactor_for_loop}: cancels its timers, closes its remaining sockets,
    stops its thread pool and closes its waker pipe, without touching the
    loop.  Call it on the loop thread before the loop closes; the reactor
    must not be used afterwards.  The installed reactor belongs to the whole
    process and is refused.

    @raise ValueError: for the installed reactor.
    """
    if reactor is _installed_reactor():
        raise ValueError("the installed reactor is shared by the whole process; not disposing it")
    for call in reactor.getDelayedCalls():
        call.cancel()
    reactor.disconnectAll()
    pool = reactor.threadpool
    if pool is not None:
        reactor.threadpool = None
        pool.stop()
    waker = reactor.waker
    if waker is not None:
        reactor.waker = None
        reactor.removeReader(waker)
        waker.connectionLost(Failure(error.ConnectionDone("reactor disposed")))


class LoopThread:
    """
    The thread that runs an asyncio loop, remembered so that every call into
    the application can be checked cheaply (roomkit drops coroutines created
    on any other thread; contract §5).

    @ivar loop: the loop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """
        @param loop: the loop running this call; create this on its thread.
        @raise RuntimeError: if C{loop} is not running this call.
        """
        _require_running_here(loop, "LoopThread()")
        self.loop = loop
        self._ident = threading.get_ident()
        self._name = threading.current_thread().name

    def is_current(self) -> bool:
        """
        @return: whether the caller runs on the loop thread.
        """
        return threading.get_ident() == self._ident

    def check(self, what: str) -> None:
        """
        @param what: what is about to be called, for the error message.
        @raise WrongThreadError: when not called on the loop thread.
        """
        if threading.get_ident() != self._ident:
            raise WrongThreadError(
                f"{what} must run on the event loop thread {self._name!r}, "
                f"not on {threading.current_thread().name!r}"
            )


def as_awaitable(
    d: Deferred[_T], loop: asyncio.AbstractEventLoop | None = None
) -> asyncio.Future[_T]:
    """
    Wait for a Deferred from asyncio: C{result = await as_awaitable(d)}.

    A failure is raised in the awaiter as its original exception.  A
    cancelled Deferred (L{CancelledError}) cancels the future, so the awaiter
    gets L{asyncio.CancelledError}, as when awaiting any cancelled asyncio
    operation.  Cancelling the future (or the task awaiting it, or a timeout
    around it) cancels C{d}, so its canceller runs.

    Like L{Deferred.asFuture}, this consumes C{d}'s result: C{d} then carries
    C{None}, and its failures are never reported as unhandled, since the
    awaiter got them.  A failure other than cancellation that arrives after
    the awaiter went away has nobody to go to, so it is logged.

    @param loop: the loop of the future; the running loop by default.
    """
    if loop is None:
        loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def settle(result: _T | Failure) -> None:
        if future.cancelled():
            if isinstance(result, Failure) and not result.check(CancelledError):
                _log.failure("Deferred failed after its awaiter was cancelled", result)
        elif isinstance(result, Failure):
            if result.check(CancelledError):
                future.cancel()
            else:
                future.set_exception(result.value)
        else:
            future.set_result(result)

    def cancel_deferred(done: asyncio.Future[_T]) -> None:
        if done.cancelled():
            d.cancel()

    # First registered, so the Deferred is cancelled before the awaiter wakes.
    future.add_done_callback(cancel_deferred)
    d.addBoth(settle)
    return future


def _deliver(d: Deferred[_T], future: asyncio.Future[_T]) -> None:
    if future.cancelled():
        d.errback(Failure(CancelledError(f"{future!r} was cancelled")))
        return
    exc = future.exception()
    if exc is None:
        d.callback(future.result())
    else:
        d.errback(Failure(exc, type(exc), exc.__traceback__))


def as_deferred(
    awaitable: Awaitable[_T], loop: asyncio.AbstractEventLoop | None = None
) -> Deferred[_T]:
    """
    Wait for asyncio work from Twisted code.

    A coroutine is started as a task on C{loop} (never driven by
    C{Deferred.fromCoroutine}, where asyncio-native awaits fail:
    twisted/twisted#12265); a future or task is used as it is; a Deferred is
    returned unchanged.

    The task's result or exception fires the Deferred; a cancelled task fails
    it with L{CancelledError}, Twisted's cancellation, so that C{addTimeout}
    and callers checking C{failure.check(CancelledError)} work.  Cancelling
    the Deferred cancels the task and fails the Deferred at once rather than
    when the task settles: the engine must not be held up by application code
    that ignores cancellation.  An exception the task raises after that is
    logged, not lost.

    @param loop: the loop to run a coroutine on; the running loop by default.
    """
    if isinstance(awaitable, Deferred):
        return awaitable
    if loop is None:
        loop = asyncio.get_running_loop()
    future = asyncio.ensure_future(awaitable, loop=loop)
    delivered = False

    def cancel(d: Deferred[_T]) -> None:
        nonlocal delivered
        if future.done():
            # Finished, its done-callback not run yet: give the real outcome.
            delivered = True
            _deliver(d, future)
        else:
            future.cancel()

    d: Deferred[_T] = Deferred(cancel)

    def done(finished: asyncio.Future[_T]) -> None:
        nonlocal delivered
        if delivered:
            return
        delivered = True
        if not d.called:
            _deliver(d, finished)
            return
        exc = None if finished.cancelled() else finished.exception()
        if exc is not None:
            _log.failure(
                "{future!r} failed after its Deferred was cancelled",
                Failure(exc, type(exc), exc.__traceback__),
                future=finished,
            )

    future.add_done_callback(done)
    return d
