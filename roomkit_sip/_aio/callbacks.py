# -*- test-case-name: tests.aio.test_callbacks -*-
"""
Call the application's callbacks the way roomkit's own backend does.

roomkit accepts plain functions and coroutine functions for every callback
(contract §3.2): a plain function runs inline; a coroutine becomes a task
whose exception is logged, never propagated.  L{CallbackRunner} does that on
the loop thread, keeps a strong reference to every task it starts (the loop
only keeps weak ones) and lets C{close()} wait for them.
L{CallbackList} and L{Subscription} are the registries behind
C{on_call}-style decorators and the idempotent unsubscribe functions that
C{on_client_disconnected} and C{subscribe_audio_received} return.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import Any, Generic, TypeVar

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from roomkit_sip._aio.bridge import LoopThread, as_awaitable, as_deferred

__all__ = ["CallbackList", "CallbackRunner", "Subscription"]

_C = TypeVar("_C", bound=Callable[..., object])


def _name(callback: object) -> str:
    name = getattr(callback, "__qualname__", None)
    return name if isinstance(name, str) else repr(callback)


class CallbackRunner:
    """
    Invokes application callbacks on the loop thread and owns the tasks that
    coroutine callbacks become.
    """

    _log = Logger()

    def __init__(self, loop_thread: LoopThread) -> None:
        """
        @param loop_thread: the thread every callback must run on; its loop
            runs the tasks.
        """
        self._thread = loop_thread
        self._loop = loop_thread.loop
        self._tasks: set[asyncio.Future[Any]] = set()

    @property
    def pending(self) -> frozenset[asyncio.Future[Any]]:
        """
        The tasks started for callbacks that have not finished yet.
        """
        return frozenset(self._tasks)

    def call_user(self, callback: Callable[..., object], *args: object) -> object:
        """
        Call C{callback(*args)} for its effect, never letting it break the
        engine.

        A plain result is returned.  An awaitable result (coroutine, future
        or Deferred) is scheduled as a task on the loop and that task is
        returned; its exception is logged when it ends.  An exception raised
        synchronously is logged too and C{None} returned.

        @raise WrongThreadError: when called off the loop thread, before the
            callback runs.
        """
        name = _name(callback)
        self._thread.check(name)
        try:
            result = callback(*args)
        except Exception:
            self._log.failure("Callback {callback} raised", callback=name)
            return None
        if inspect.isawaitable(result):
            return self._track(result, name, log_errors=True)
        return result

    def call_deferred(self, callback: Callable[..., object], *args: object) -> Deferred[Any]:
        """
        Call C{callback(*args)} for its answer (an invite filter, an auth
        resolver), sync or async alike.

        The Deferred fires with the result or fails with the exception,
        nothing is logged: the engine decides what an error means.  An
        awaitable result runs as a tracked task; cancelling the Deferred
        cancels it (see L{as_deferred}).

        @raise WrongThreadError: when called off the loop thread.
        """
        name = _name(callback)
        self._thread.check(name)
        try:
            result = callback(*args)
        except Exception:
            return defer.fail()
        if isinstance(result, Deferred):
            return result
        if inspect.isawaitable(result):
            return as_deferred(self._track(result, name, log_errors=False), self._loop)
        return defer.succeed(result)

    def _track(
        self, awaitable: Awaitable[Any], name: str, log_errors: bool
    ) -> asyncio.Future[Any]:
        if isinstance(awaitable, Deferred):
            future = as_awaitable(awaitable, self._loop)
        elif inspect.iscoroutine(awaitable):
            future = self._loop.create_task(awaitable, name=f"roomkit-sip callback {name}")
        else:
            future = asyncio.ensure_future(awaitable, loop=self._loop)
        self._tasks.add(future)
        future.add_done_callback(partial(self._finished, name, log_errors))
        return future

    def _finished(self, name: str, log_errors: bool, future: asyncio.Future[Any]) -> None:
        self._tasks.discard(future)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None and log_errors:
            self._log.failure(
                "Callback {callback} failed",
                Failure(exc, type(exc), exc.__traceback__),
                callback=name,
            )

    async def drain(self, timeout: float, cancel_grace: float = 1.0) -> int:
        """
        Wait for the callback tasks to finish, for C{close()}.

        Tasks started while waiting are waited for too.  At the deadline the
        remaining ones are cancelled and given C{cancel_grace} seconds to
        unwind.  The task calling this is never waited for, so a callback may
        close the backend without waiting on itself.

        @param timeout: seconds to wait before cancelling.
        @return: how many tasks had to be cancelled.
        """
        me = asyncio.current_task()
        deadline = self._loop.time() + timeout

        def others() -> set[asyncio.Future[Any]]:
            return {task for task in self._tasks if task is not me}

        waiting = others()
        while waiting:
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                break
            await asyncio.wait(waiting, timeout=remaining)
            waiting = others()
        if not waiting:
            return 0
        self._log.warn(
            "Cancelling {count} callback task(s) still running after {timeout}s: {tasks}",
            count=len(waiting),
            timeout=timeout,
            tasks=sorted(_task_name(task) for task in waiting),
        )
        for task in waiting:
            task.cancel()
        await asyncio.wait(waiting, timeout=cancel_grace)
        return len(waiting)


def _task_name(future: asyncio.Future[Any]) -> str:
    return future.get_name() if isinstance(future, asyncio.Task) else repr(future)


class Subscription:
    """
    Removes one registration from a L{CallbackList}; calling it again does
    nothing, like the unsubscribe functions roomkit hands out.
    """

    __slots__ = ("_entries", "_entry")

    def __init__(self, entries: list[_Entry], entry: _Entry) -> None:
        self._entries = entries
        self._entry = entry

    @property
    def active(self) -> bool:
        """
        Whether the callback is still registered.
        """
        return self._entry.active

    def __call__(self) -> None:
        if self._entry.active:
            self._entry.active = False
            self._entries.remove(self._entry)


class _Entry:
    __slots__ = ("active", "callback")

    def __init__(self, callback: Callable[..., object]) -> None:
        self.callback = callback
        self.active = True


class CallbackList(Generic[_C]):
    """
    The callbacks registered for one event, in registration order.

    The same function registered twice is called twice, and each
    registration has its own L{Subscription}.
    """

    def __init__(self) -> None:
        self._entries: list[_Entry] = []

    def subscribe(self, callback: _C) -> Subscription:
        """
        Register C{callback}.

        @return: the idempotent unsubscribe function.
        """
        entry = _Entry(callback)
        self._entries.append(entry)
        return Subscription(self._entries, entry)

    def register(self, callback: _C) -> _C:
        """
        Register C{callback}, returning it unchanged: usable as a decorator.
        """
        self.subscribe(callback)
        return callback

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[_C]:
        return iter([entry.callback for entry in self._entries])  # type: ignore[misc]

    def fire(self, runner: CallbackRunner, *args: object) -> None:
        """
        Call every callback through C{runner.call_user}, so one failing
        callback does not keep the others from running.  A callback removed
        by an earlier one during this round is skipped.
        """
        for entry in list(self._entries):
            if entry.active:
                runner.call_user(entry.callback, *args)
