"""
L{roomkit_sip._aio.bridge} on a real asyncio loop with a real (private)
C{AsyncioSelectorReactor}: timers and sockets without C{reactor.run()},
the running state, disposal, Deferred/future conversion both ways and the
loop-thread guard.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from twisted.internet import defer, task
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.internet.selectreactor import SelectReactor
from twisted.logger import capturedLogs
from twisted.python import threadable
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip._aio.bridge import (
    LoopThread,
    ReactorMismatchError,
    WrongThreadError,
    as_awaitable,
    as_deferred,
    dispose_reactor,
    reactor_for_loop,
    start_on_loop,
)
from roomkit_sip.testing import MemoryUDPReactor
from tests.aio import run_scenario

#: Bound on every wait for something that is expected to happen.
WAIT = 5.0


class Echo(DatagramProtocol):
    stopped = False

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        self.transport.write(data[::-1], addr)

    def stopProtocol(self) -> None:
        self.stopped = True


class Collect(DatagramProtocol):
    def __init__(self) -> None:
        self.received: Deferred[bytes] = Deferred()

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        self.received.callback(data)


class StreamEcho(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data[::-1])


class StreamClient(Protocol):
    def __init__(self) -> None:
        self.received: Deferred[bytes] = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(b"ping")

    def dataReceived(self, data: bytes) -> None:
        self.transport.loseConnection()
        self.received.callback(data)


async def _tcp_round_trip(reactor: AsyncioSelectorReactor) -> bytes:
    server = reactor.listenTCP(0, Factory.forProtocol(StreamEcho), interface="127.0.0.1")
    try:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", server.getHost().port)
        client = await as_awaitable(connectProtocol(endpoint, StreamClient()))
        return await as_awaitable(client.received)
    finally:
        await as_awaitable(server.stopListening())


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


class ReactorOnLoopTests(SynchronousTestCase):
    """
    What an asyncio reactor does on a loop the application already runs.
    """

    def test_io_without_run(self) -> None:
        """
        Without C{run()} or C{startRunning()}, C{callLater} fires from the
        loop, UDP and TCP round trips on 127.0.0.1 complete and
        C{callFromThread} reaches the loop.
        """

        async def scenario(_: object) -> tuple[Any, ...]:
            loop = asyncio.get_running_loop()
            reactor = AsyncioSelectorReactor(loop)
            try:
                fired = await asyncio.wait_for(
                    as_awaitable(task.deferLater(reactor, 0.01, lambda: "timer")), WAIT
                )
                server = reactor.listenUDP(0, Echo(), interface="127.0.0.1")
                client = Collect()
                reactor.listenUDP(0, client, interface="127.0.0.1")
                client.transport.write(b"ping", ("127.0.0.1", server.getHost().port))
                echoed = await asyncio.wait_for(as_awaitable(client.received), WAIT)
                streamed = await asyncio.wait_for(_tcp_round_trip(reactor), WAIT)
                hopped: Deferred[str] = Deferred()
                await asyncio.to_thread(reactor.callFromThread, hopped.callback, "hopped")
                from_thread = await asyncio.wait_for(as_awaitable(hopped), WAIT)
                return reactor.running, fired, echoed, streamed, from_thread
            finally:
                dispose_reactor(reactor)

        self.assertEqual(run_scenario(scenario), (False, "timer", b"gnip", b"gnip", "hopped"))

    def test_unstarted_reactor_has_no_resolver_threads(self) -> None:
        """
        Name resolution runs in the reactor's thread pool, which only starts
        with the reactor: before L{start_on_loop} a lookup has no thread to
        run on and C{callWhenRunning} waits.
        """

        async def scenario(_: object) -> tuple[bool, list[str], bool, list[threading.Thread]]:
            reactor = AsyncioSelectorReactor(asyncio.get_running_loop())
            try:
                called: list[str] = []
                reactor.callWhenRunning(called.append, "running")
                lookup = reactor.resolve("localhost")
                pool = reactor.getThreadPool()
                return lookup.called, called, pool.started, list(pool.threads)
            finally:
                dispose_reactor(reactor)

        self.assertEqual(run_scenario(scenario), (False, [], False, []))

    def test_start_on_loop(self) -> None:
        """
        L{start_on_loop} makes the reactor running without C{run()}:
        C{callWhenRunning} callables fire, names resolve through daemon pool
        threads (which cannot hold up interpreter exit), and the process-wide
        I/O thread of a private reactor is left alone.
        """
        self.addCleanup(setattr, threadable, "ioThread", threadable.ioThread)
        # Not this thread's ident, so claiming the I/O thread would show.
        threadable.ioThread = io_thread = -1

        async def scenario(_: object) -> tuple[Any, ...]:
            reactor = AsyncioSelectorReactor(asyncio.get_running_loop())
            try:
                called: list[str] = []
                reactor.callWhenRunning(called.append, "running")
                start_on_loop(reactor)
                start_on_loop(reactor)
                address = await asyncio.wait_for(as_awaitable(reactor.resolve("localhost")), WAIT)
                threads = list(reactor.getThreadPool().threads)
                return reactor.running, called, address, [t.daemon for t in threads]
            finally:
                dispose_reactor(reactor)

        running, called, address, daemons = run_scenario(scenario)
        self.assertEqual((running, called), (True, ["running"]))
        self.assertIn(address, ("127.0.0.1", "::1"))
        self.assertTrue(daemons)
        self.assertTrue(all(daemons))
        self.assertEqual(threadable.ioThread, io_thread)

    def test_reactor_for_loop_explicit_asyncio_reactor(self) -> None:
        """
        An explicit asyncio reactor of the running loop is returned, running.
        """

        async def scenario(given: AsyncioSelectorReactor) -> tuple[bool, bool]:
            loop = asyncio.get_running_loop()
            own = AsyncioSelectorReactor(loop)
            try:
                return reactor_for_loop(loop, own) is own, own.running
            finally:
                dispose_reactor(own)

        self.assertEqual(run_scenario(scenario), (True, True))

    def test_reactor_for_loop_other_loop(self) -> None:
        """
        An explicit asyncio reactor of another loop is refused with a
        message that says how to build the right one.
        """
        other = asyncio.new_event_loop()
        self.addCleanup(other.close)
        foreign = AsyncioSelectorReactor(other)
        self.addCleanup(dispose_reactor, foreign)

        async def scenario(_: object) -> str:
            with self.assertRaises(ReactorMismatchError) as caught:
                reactor_for_loop(asyncio.get_running_loop(), foreign)
            return str(caught.exception)

        message = run_scenario(scenario)
        self.assertIn("AsyncioSelectorReactor(asyncio.get_running_loop())", message)
        self.assertFalse(foreign.running)

    def test_reactor_for_loop_thread_reactor(self) -> None:
        """
        A real reactor that is not an asyncio one would call the application
        from another thread: refused.
        """
        other = SelectReactor()

        def close_waker() -> None:
            other.removeReader(other.waker)
            other.waker.connectionLost(None)

        self.addCleanup(close_waker)

        async def scenario(_: object) -> str:
            with self.assertRaises(ReactorMismatchError) as caught:
                reactor_for_loop(asyncio.get_running_loop(), other)
            return str(caught.exception)

        self.assertIn("twisted.internet.selectreactor.SelectReactor", run_scenario(scenario))

    def test_reactor_for_loop_fake(self) -> None:
        """
        A fake reactor is returned untouched: the test driving it owns it.
        """
        fake = MemoryUDPReactor()

        async def scenario(_: object) -> object:
            return reactor_for_loop(asyncio.get_running_loop(), fake)

        self.assertIs(run_scenario(scenario), fake)
        self.assertFalse(fake.running)

    def test_reactor_for_loop_needs_its_running_loop(self) -> None:
        """
        C{reactor_for_loop} must run on the loop it serves, since it decides
        which thread calls the application.
        """
        idle = asyncio.new_event_loop()
        self.addCleanup(idle.close)
        self.assertRaises(RuntimeError, reactor_for_loop, idle, MemoryUDPReactor())

        async def scenario(_: object) -> None:
            with self.assertRaises(RuntimeError):
                reactor_for_loop(idle, MemoryUDPReactor())

        run_scenario(scenario)

    def test_stopped_reactor_cannot_start(self) -> None:
        """
        A reactor that ran and stopped cannot run again; L{start_on_loop}
        says so instead of leaving it half started.
        """
        io_thread = threadable.ioThread
        self.addCleanup(setattr, threadable, "ioThread", io_thread)
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        reactor = AsyncioSelectorReactor(loop)
        self.addCleanup(dispose_reactor, reactor)
        reactor.callWhenRunning(reactor.stop)
        # run() drives its own loop, so give it a thread without one.
        runner = threading.Thread(target=reactor.run, args=(False,))
        runner.start()
        runner.join(WAIT)
        self.assertFalse(runner.is_alive())
        self.assertRaises(ReactorMismatchError, start_on_loop, reactor)

    def test_dispose_reactor(self) -> None:
        """
        L{dispose_reactor} cancels timers, closes sockets, stops the pool
        threads and closes the waker pipe of a private reactor.
        """

        async def scenario(_: object) -> tuple[Any, ...]:
            reactor = AsyncioSelectorReactor(asyncio.get_running_loop())
            start_on_loop(reactor)
            await asyncio.wait_for(as_awaitable(reactor.resolve("localhost")), WAIT)
            threads = list(reactor.getThreadPool().threads)
            timer = reactor.callLater(60, lambda: None)
            echo = Echo()
            port = reactor.listenUDP(0, echo, interface="127.0.0.1")
            waker = reactor.waker
            pipe = (waker.i, waker.o)
            dispose_reactor(reactor)
            return (
                timer.cancelled,
                echo.stopped,
                port.connected,
                [t.is_alive() for t in threads],
                [_fd_open(fd) for fd in pipe],
                reactor.getReaders(),
                reactor.getWriters(),
            )

        timer, stopped, connected, alive, pipe, readers, writers = run_scenario(scenario)
        self.assertTrue(timer)
        self.assertTrue(stopped)
        self.assertFalse(connected)
        self.assertEqual(alive, [False] * len(alive))
        self.assertEqual(pipe, [False, False])
        self.assertEqual((readers, writers), ([], []))


class AsAwaitableTests(SynchronousTestCase):
    """
    Awaiting Deferreds from asyncio.
    """

    def test_fired_later_by_reactor(self) -> None:
        async def scenario(reactor: AsyncioSelectorReactor) -> str:
            d: Deferred[str] = Deferred()
            reactor.callLater(0.01, d.callback, "later")
            return await asyncio.wait_for(as_awaitable(d), WAIT)

        self.assertEqual(run_scenario(scenario), "later")

    def test_already_fired(self) -> None:
        async def scenario(_: object) -> int:
            return await as_awaitable(defer.succeed(7))

        self.assertEqual(run_scenario(scenario), 7)

    def test_failure_raises_original_exception(self) -> None:
        """
        The awaiter gets the Deferred's exception itself, and the Deferred's
        failure is consumed so it is never reported as unhandled.
        """
        boom = KeyError("boom")
        d: Deferred[None] = Deferred()

        async def scenario(reactor: AsyncioSelectorReactor) -> BaseException:
            reactor.callLater(0, d.errback, boom)
            with self.assertRaises(KeyError) as caught:
                await asyncio.wait_for(as_awaitable(d), WAIT)
            return caught.exception

        self.assertIs(run_scenario(scenario), boom)
        self.assertIsNone(self.successResultOf(d))

    def test_deferred_cancelled_cancels_awaiter(self) -> None:
        """
        A Deferred cancelled by Twisted code cancels the awaiting task, as
        awaiting a cancelled asyncio future does.
        """
        d: Deferred[None] = Deferred()

        async def scenario(reactor: AsyncioSelectorReactor) -> bool:
            waiter = asyncio.ensure_future(as_awaitable(d))
            reactor.callLater(0, d.cancel)
            with self.assertRaises(asyncio.CancelledError):
                await asyncio.wait_for(waiter, WAIT)
            return waiter.cancelled()

        self.assertTrue(run_scenario(scenario))
        self.assertIsNone(self.successResultOf(d))

    def test_cancelling_awaiter_cancels_deferred(self) -> None:
        """
        Cancelling the task that awaits runs the Deferred's canceller before
        the task wakes up, and leaves no unhandled failure behind.
        """
        cancelled: list[Deferred[None]] = []
        d: Deferred[None] = Deferred(cancelled.append)

        async def scenario(_: object) -> list[Deferred[None]]:
            started = asyncio.Event()

            async def wait() -> None:
                started.set()
                await as_awaitable(d)

            waiter = asyncio.ensure_future(wait())
            await asyncio.wait_for(started.wait(), WAIT)
            waiter.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await waiter
            return list(cancelled)

        with capturedLogs() as events:
            self.assertEqual(run_scenario(scenario), [d])
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual([e for e in events if "log_failure" in e], [])

    def test_timeout_cancels_deferred(self) -> None:
        cancelled: list[Deferred[None]] = []
        d: Deferred[None] = Deferred(cancelled.append)

        async def scenario(_: object) -> None:
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(as_awaitable(d), 0.01)

        run_scenario(scenario)
        self.assertEqual(cancelled, [d])

    def test_failure_after_awaiter_left_is_logged(self) -> None:
        """
        A canceller that fails the Deferred with a real error has nobody to
        tell but the log.
        """
        d: Deferred[None] = Deferred(lambda d: d.errback(OSError("socket gone")))

        async def scenario(_: object) -> None:
            future = as_awaitable(d)
            future.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await future

        run_scenario(scenario)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)


class AsDeferredTests(SynchronousTestCase):
    """
    Waiting for asyncio work from Twisted code.
    """

    def test_coroutine_runs_as_asyncio_task(self) -> None:
        """
        A coroutine runs as a task, so asyncio-native awaits work inside it
        (they fail under C{Deferred.fromCoroutine}: twisted/twisted#12265).
        """

        async def work() -> tuple[bool, str]:
            await asyncio.sleep(0)
            await asyncio.get_running_loop().run_in_executor(None, str, 1)
            return asyncio.current_task() is not None, "done"

        async def scenario(_: object) -> tuple[bool, str]:
            return await asyncio.wait_for(as_awaitable(as_deferred(work())), WAIT)

        self.assertEqual(run_scenario(scenario), (True, "done"))

    def test_exception_becomes_failure(self) -> None:
        """
        The task's exception fails the Deferred, traceback included.
        """

        async def work() -> None:
            await asyncio.sleep(0)
            raise ZeroDivisionError("nope")

        async def scenario(_: object) -> Deferred[None]:
            future = asyncio.ensure_future(work())
            d = as_deferred(future)
            # as_deferred's done-callback was added first, so it has run by now.
            await asyncio.wait([future], timeout=WAIT)
            return d

        failure = self.failureResultOf(run_scenario(scenario), ZeroDivisionError)
        self.assertEqual(str(failure.value), "nope")
        self.assertIn("work", [frame[0] for frame in failure.frames])

    def test_cancelling_deferred_cancels_task(self) -> None:
        """
        C{d.cancel()} fails the Deferred with Twisted's CancelledError at
        once and cancels the task, whose cleanup runs.
        """
        outcome: dict[str, Any] = {}

        async def scenario(_: object) -> None:
            started = asyncio.Event()
            cleaned = asyncio.Event()

            async def work() -> None:
                started.set()
                try:
                    await asyncio.Event().wait()
                finally:
                    cleaned.set()

            future = asyncio.ensure_future(work())
            d = as_deferred(future)
            await asyncio.wait_for(started.wait(), WAIT)
            d.cancel()
            outcome["failure"] = self.failureResultOf(d, defer.CancelledError)
            await asyncio.wait_for(cleaned.wait(), WAIT)
            await asyncio.wait([future], timeout=WAIT)
            outcome["task cancelled"] = future.cancelled()

        run_scenario(scenario)
        self.assertTrue(outcome["task cancelled"])

    def test_task_cancelled_from_asyncio(self) -> None:
        """
        A task cancelled on the asyncio side fails the Deferred with
        Twisted's CancelledError, which Twisted code knows how to check.
        """

        async def scenario(_: object) -> Deferred[None]:
            future = asyncio.ensure_future(asyncio.Event().wait())
            d = as_deferred(future)
            future.cancel()
            await asyncio.wait([future], timeout=WAIT)
            return d

        d = run_scenario(scenario)
        self.failureResultOf(d, defer.CancelledError)

    def test_error_after_cancel_is_logged(self) -> None:
        """
        A task that turns its cancellation into another error after the
        Deferred gave up has its error logged, not lost.
        """

        async def stubborn() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                raise LookupError("cleanup failed") from None

        async def scenario(_: object) -> None:
            future = asyncio.ensure_future(stubborn())
            await asyncio.sleep(0)
            d = as_deferred(future)
            d.cancel()
            self.failureResultOf(d, defer.CancelledError)
            await asyncio.wait([future], timeout=WAIT)

        run_scenario(scenario)
        self.assertEqual(len(self.flushLoggedErrors(LookupError)), 1)

    def test_cancel_after_completion_gives_outcome(self) -> None:
        """
        Cancelling once the future has finished, before its done callbacks
        ran, fires the Deferred with the real result, and only once.
        """

        async def scenario(_: object) -> Deferred[int]:
            future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            d = as_deferred(future)
            future.set_result(5)
            d.cancel()
            await asyncio.sleep(0)
            return d

        self.assertEqual(self.successResultOf(run_scenario(scenario)), 5)

    def test_deferred_and_awaitable_objects(self) -> None:
        """
        A Deferred is returned as it is; any other awaitable is wrapped.
        """

        class Answer:
            def __await__(self) -> Any:
                yield from asyncio.sleep(0).__await__()
                return 42

        async def scenario(_: object) -> tuple[bool, int]:
            d: Deferred[int] = Deferred()
            same = as_deferred(d) is d
            return same, await asyncio.wait_for(as_awaitable(as_deferred(Answer())), WAIT)

        self.assertEqual(run_scenario(scenario), (True, 42))


class LoopThreadTests(SynchronousTestCase):
    def test_check_on_and_off_the_loop_thread(self) -> None:
        async def scenario(_: object) -> tuple[bool, bool, str]:
            guard = LoopThread(asyncio.get_running_loop())
            guard.check("on_call")

            def elsewhere() -> tuple[bool, str]:
                try:
                    guard.check("on_call")
                except WrongThreadError as e:
                    return guard.is_current(), str(e)
                return guard.is_current(), ""

            here = guard.is_current()
            there, message = await asyncio.wait_for(asyncio.to_thread(elsewhere), WAIT)
            return here, there, message

        here, there, message = run_scenario(scenario)
        self.assertEqual((here, there), (True, False))
        self.assertIn("on_call must run on the event loop thread", message)

    def test_needs_running_loop(self) -> None:
        idle = asyncio.new_event_loop()
        self.addCleanup(idle.close)
        self.assertRaises(RuntimeError, LoopThread, idle)
