"""
L{roomkit_sip._aio.callbacks}: sync and coroutine callbacks as roomkit calls
them, their errors in the log, task bookkeeping and draining, and the
callback registries.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.defer import Deferred
from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip._aio.bridge import LoopThread, WrongThreadError, as_awaitable
from roomkit_sip._aio.callbacks import CallbackList, CallbackRunner, Subscription
from tests.aio import run_scenario

WAIT = 5.0


def _runner() -> CallbackRunner:
    return CallbackRunner(LoopThread(asyncio.get_running_loop()))


def _failures(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if "log_failure" in e]


class CallUserTests(SynchronousTestCase):
    """
    L{CallbackRunner.call_user}: fire-and-forget, never raising into the
    engine.
    """

    def test_sync_result(self) -> None:
        async def scenario(_: object) -> object:
            return _runner().call_user(lambda a, b: (b, a), 1, 2)

        self.assertEqual(run_scenario(scenario), (2, 1))

    def test_sync_exception_logged(self) -> None:
        def handler(session: str) -> None:
            raise ZeroDivisionError(session)

        async def scenario(_: object) -> object:
            return _runner().call_user(handler, "s1")

        with capturedLogs() as events:
            self.assertIsNone(run_scenario(scenario))
        [event] = _failures(events)
        self.assertEqual(event["callback"], handler.__qualname__)
        self.assertEqual(event["log_level"], LogLevel.critical)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_coroutine_becomes_tracked_task(self) -> None:
        """
        A coroutine function's call runs as a task on the loop, counted as
        pending until it ends; its result stays on the task.
        """
        seen: dict[str, Any] = {}

        async def on_call(session: str) -> str:
            await asyncio.sleep(0)
            return f"answered {session}"

        async def scenario(_: object) -> None:
            runner = _runner()
            task = runner.call_user(on_call, "s1")
            assert isinstance(task, asyncio.Task)
            seen["pending while running"] = runner.pending == {task}
            seen["result"] = await asyncio.wait_for(task, WAIT)
            seen["pending after"] = runner.pending

        run_scenario(scenario)
        self.assertEqual(
            seen,
            {
                "pending while running": True,
                "result": "answered s1",
                "pending after": frozenset(),
            },
        )

    def test_coroutine_exception_logged(self) -> None:
        """
        An exception in a coroutine callback ends up in the log with its
        traceback and the callback's name; it never reaches the caller.
        """

        async def on_dtmf(session: str, digit: str) -> None:
            await asyncio.sleep(0)
            raise ValueError(digit)

        async def scenario(_: object) -> None:
            runner = _runner()
            task = runner.call_user(on_dtmf, "s1", "5")
            assert isinstance(task, asyncio.Future)
            await asyncio.wait([task], timeout=WAIT)

        with capturedLogs() as events:
            run_scenario(scenario)
        [event] = _failures(events)
        self.assertEqual(event["callback"], on_dtmf.__qualname__)
        self.assertTrue(event["log_failure"].check(ValueError))
        self.assertIn("on_dtmf", [frame[0] for frame in event["log_failure"].frames])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_returned_awaitables(self) -> None:
        """
        A plain function returning a coroutine or a Deferred is treated like
        a coroutine function: tracked, and a failure is logged.
        """

        async def later(value: str) -> str:
            await asyncio.sleep(0)
            return value

        async def scenario(reactor: AsyncioSelectorReactor) -> tuple[str, int]:
            runner = _runner()
            from_coroutine = runner.call_user(lambda: later("coro"))
            failing: Deferred[None] = Deferred()
            from_deferred = runner.call_user(lambda: failing)
            assert isinstance(from_coroutine, asyncio.Future)
            assert isinstance(from_deferred, asyncio.Future)
            pending = len(runner.pending)
            reactor.callLater(0, failing.errback, KeyError("gone"))
            await asyncio.wait([from_coroutine, from_deferred], timeout=WAIT)
            return from_coroutine.result(), pending

        self.assertEqual(run_scenario(scenario), ("coro", 2))
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)

    def test_cancelled_task_not_an_error(self) -> None:
        async def forever() -> None:
            await asyncio.Event().wait()

        async def scenario(_: object) -> bool:
            task = _runner().call_user(forever)
            assert isinstance(task, asyncio.Future)
            await asyncio.sleep(0)
            task.cancel()
            await asyncio.wait([task], timeout=WAIT)
            return task.cancelled()

        with capturedLogs() as events:
            self.assertTrue(run_scenario(scenario))
        self.assertEqual(_failures(events), [])

    def test_task_kept_alive(self) -> None:
        """
        The runner holds its tasks: asyncio keeps only weak references, so a
        task waiting on a future nobody else holds would otherwise be
        collected mid-flight.
        """
        finished: list[str] = []

        async def scenario(_: object) -> None:
            runner = _runner()
            handle: list[weakref.ref[asyncio.Future[str]]] = []
            done = asyncio.Event()

            async def callback() -> None:
                future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
                handle.append(weakref.ref(future))
                finished.append(await future)
                done.set()

            runner.call_user(callback)
            await asyncio.sleep(0)
            gc.collect()
            future = handle[0]()
            self.assertIsNotNone(future, "the callback's task was garbage-collected")
            assert future is not None
            future.set_result("woke up")
            del future
            await asyncio.wait_for(done.wait(), WAIT)

        run_scenario(scenario)
        self.assertEqual(finished, ["woke up"])

    def test_wrong_thread(self) -> None:
        """
        Called from another thread, the runner refuses before the callback
        runs.
        """
        called: list[str] = []

        async def scenario(_: object) -> str:
            runner = _runner()

            def elsewhere() -> str:
                try:
                    runner.call_user(called.append, "x")
                except WrongThreadError as e:
                    return str(e)
                return "no error"

            return await asyncio.wait_for(asyncio.to_thread(elsewhere), WAIT)

        self.assertIn("must run on the event loop thread", run_scenario(scenario))
        self.assertEqual(called, [])


class CallDeferredTests(SynchronousTestCase):
    """
    L{CallbackRunner.call_deferred}: callbacks whose answer the engine needs.
    """

    def test_sync(self) -> None:
        def fails() -> None:
            raise PermissionError("403")

        async def scenario(_: object) -> tuple[Deferred[Any], Deferred[Any], Deferred[Any]]:
            runner = _runner()
            given: Deferred[str] = defer.succeed("as is")
            return (
                runner.call_deferred(lambda x: x * 2, 21),
                runner.call_deferred(fails),
                runner.call_deferred(lambda: given),
            )

        ok, failed, deferred = run_scenario(scenario)
        self.assertEqual(self.successResultOf(ok), 42)
        self.failureResultOf(failed, PermissionError)
        self.assertEqual(self.successResultOf(deferred), "as is")

    def test_coroutine(self) -> None:
        """
        A coroutine callback's result or exception goes to the Deferred; the
        exception is the engine's to handle, so it is not logged.
        """

        async def invite_filter(caller: str) -> tuple[int, str] | None:
            await asyncio.sleep(0)
            if caller == "spam":
                raise RuntimeError("filter broke")
            return None if caller == "alice" else (403, "Forbidden")

        async def scenario(_: object) -> list[Any]:
            runner = _runner()
            results = []
            for caller in ("alice", "bob", "spam"):
                d = runner.call_deferred(invite_filter, caller)
                future = as_awaitable(d)
                await asyncio.wait([future], timeout=WAIT)
                results.append(future.exception() or future.result())
            return results

        with capturedLogs() as events:
            alice, bob, spam = run_scenario(scenario)
        self.assertEqual((alice, bob), (None, (403, "Forbidden")))
        self.assertIsInstance(spam, RuntimeError)
        self.assertEqual(_failures(events), [])

    def test_cancel_cancels_task(self) -> None:
        async def scenario(_: object) -> tuple[bool, int]:
            runner = _runner()
            d = runner.call_deferred(asyncio.Event().wait)
            [task] = runner.pending
            d.cancel()
            self.failureResultOf(d, defer.CancelledError)
            await asyncio.wait([task], timeout=WAIT)
            return task.cancelled(), len(runner.pending)

        self.assertEqual(run_scenario(scenario), (True, 0))


class DrainTests(SynchronousTestCase):
    """
    L{CallbackRunner.drain}, for C{close()}.
    """

    def test_waits_for_tasks(self) -> None:
        """
        Running callbacks are waited for, including ones they start while
        draining.
        """
        order: list[str] = []

        async def scenario(reactor: AsyncioSelectorReactor) -> int:
            runner = _runner()

            async def child() -> None:
                await as_awaitable(_later(reactor))
                order.append("child")

            async def parent() -> None:
                await as_awaitable(_later(reactor))
                runner.call_user(child)
                order.append("parent")

            runner.call_user(parent)
            cancelled = await asyncio.wait_for(runner.drain(WAIT), WAIT * 2)
            order.append("drained")
            return cancelled

        self.assertEqual(run_scenario(scenario), 0)
        self.assertEqual(order, ["parent", "child", "drained"])

    def test_cancels_stragglers(self) -> None:
        """
        Tasks still running at the deadline are cancelled, given time to
        clean up, counted and named in a warning.
        """
        cleaned: list[str] = []

        async def hangs() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                cleaned.append("hangs")

        async def scenario(_: object) -> tuple[int, int]:
            runner = _runner()
            runner.call_user(hangs)
            cancelled = await asyncio.wait_for(runner.drain(0.01), WAIT)
            return cancelled, len(runner.pending)

        with capturedLogs() as events:
            self.assertEqual(run_scenario(scenario), (1, 0))
        self.assertEqual(cleaned, ["hangs"])
        [warning] = [e for e in events if e["log_level"] == LogLevel.warn]
        self.assertEqual(warning["count"], 1)
        self.assertIn("hangs", warning["tasks"][0])

    def test_not_waiting_on_itself(self) -> None:
        """
        A callback that closes the backend drains the other tasks without
        waiting for its own end.
        """

        async def scenario(_: object) -> tuple[int, bool]:
            runner = _runner()
            other = asyncio.Event()

            async def closes() -> int:
                asyncio.get_running_loop().call_soon(other.set)
                return await runner.drain(60)

            async def waits() -> None:
                await other.wait()

            runner.call_user(waits)
            task = runner.call_user(closes)
            assert isinstance(task, asyncio.Future)
            cancelled = await asyncio.wait_for(task, WAIT)
            return cancelled, other.is_set()

        self.assertEqual(run_scenario(scenario), (0, True))

    def test_nothing_pending(self) -> None:
        async def scenario(_: object) -> int:
            return await asyncio.wait_for(_runner().drain(0), WAIT)

        self.assertEqual(run_scenario(scenario), 0)


def _later(reactor: AsyncioSelectorReactor) -> Deferred[None]:
    d: Deferred[None] = Deferred()
    reactor.callLater(0.001, d.callback, None)
    return d


class CallbackListTests(SynchronousTestCase):
    def test_register_returns_function(self) -> None:
        callbacks: CallbackList[Any] = CallbackList()

        @callbacks.register
        def on_call(session: object) -> None:
            pass

        self.assertTrue(callable(on_call))
        self.assertEqual(list(callbacks), [on_call])

    def test_unsubscribe_idempotent(self) -> None:
        """
        Each registration has its own unsubscribe; calling one twice removes
        only its own registration.
        """
        callbacks: CallbackList[Any] = CallbackList()
        first = callbacks.subscribe(print)
        second = callbacks.subscribe(print)
        self.assertIsInstance(first, Subscription)
        first()
        first()
        self.assertEqual((first.active, second.active, len(callbacks)), (False, True, 1))
        second()
        self.assertEqual(list(callbacks), [])

    def test_fire(self) -> None:
        """
        Every callback runs in order with the same arguments, a failing one
        does not stop the rest, and one removed during the round is skipped.
        """
        calls: list[tuple[str, object]] = []
        callbacks: CallbackList[Any] = CallbackList()

        def first(session: object) -> None:
            calls.append(("first", session))
            removed()

        def broken(session: object) -> None:
            raise ArithmeticError(session)

        async def third(session: object) -> None:
            calls.append(("third", session))

        def fourth(session: object) -> None:
            calls.append(("fourth", session))

        callbacks.subscribe(first)
        callbacks.subscribe(broken)
        removed = callbacks.subscribe(fourth)
        callbacks.subscribe(third)

        async def scenario(_: object) -> None:
            runner = _runner()
            callbacks.fire(runner, "s1")
            await asyncio.wait_for(runner.drain(WAIT), WAIT * 2)

        run_scenario(scenario)
        self.assertEqual(calls, [("first", "s1"), ("third", "s1")])
        self.assertEqual(len(self.flushLoggedErrors(ArithmeticError)), 1)

    @given(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), max_size=40))
    def test_matches_a_list(self, operations: list[tuple[bool, int]]) -> None:
        """
        Any sequence of subscribes and (repeated) unsubscribes leaves the
        callbacks a plain list model predicts, in order.
        """
        callbacks: CallbackList[Any] = CallbackList()
        made: list[tuple[Subscription, object]] = []
        model: list[tuple[int, object]] = []
        for subscribe, pick in operations:
            if subscribe or not made:
                callback = _POOL[pick]
                made.append((callbacks.subscribe(callback), callback))
                model.append((len(made) - 1, callback))
            else:
                index = pick % len(made)
                made[index][0]()
                model = [(i, c) for i, c in model if i != index]
        self.assertEqual(list(callbacks), [c for _, c in model])


def _numbered(n: int) -> Any:
    def callback() -> int:
        return n

    return callback


#: Few functions, so the same one often gets registered more than once.
_POOL = [_numbered(n) for n in range(6)]
