"""
Tests for the asyncio plumbing (L{roomkit_sip._aio}).

Trial and pytest-twisted install a process-wide reactor before these tests
run, so each scenario gets a fresh asyncio loop and a private, uninstalled
C{AsyncioSelectorReactor} on it, passed explicitly; the global reactor is
never touched.  The install paths are exercised in subprocesses
(L{tests.aio.test_reactor_install}).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from twisted.internet.asyncioreactor import AsyncioSelectorReactor

from roomkit_sip._aio.bridge import dispose_reactor, reactor_for_loop

_T = TypeVar("_T")

#: Upper bound for one scenario; a hang fails the test instead of the run.
SCENARIO_TIMEOUT = 20.0


def run_scenario(
    scenario: Callable[[AsyncioSelectorReactor], Awaitable[_T]],
    timeout: float = SCENARIO_TIMEOUT,
) -> _T:
    """
    Run C{scenario(reactor)} to completion on a new loop and return its result.

    The reactor comes from L{reactor_for_loop} (the explicit path) and is
    disposed of before the loop closes.  The loop is never made the thread's
    current loop.  When this thread already shows a running loop (pytest
    C{--reactor=asyncio} parks its loop in a greenlet), the scenario runs on a
    thread of its own, since asyncio refuses to nest loops.
    """

    async def main() -> _T:
        loop = asyncio.get_running_loop()
        reactor = reactor_for_loop(loop, AsyncioSelectorReactor(loop))
        try:
            return await asyncio.wait_for(scenario(reactor), timeout)
        finally:
            dispose_reactor(reactor)

    def run() -> _T:
        with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
            return runner.run(main())

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    outcome: list[_T] = []
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            outcome.append(run())
        except BaseException as e:
            errors.append(e)

    worker = threading.Thread(target=in_thread, name="aio-scenario")
    worker.start()
    worker.join(timeout + 5.0)
    if worker.is_alive():
        raise TimeoutError("the scenario's loop did not finish")
    if errors:
        raise errors[0]
    return outcome[0]
