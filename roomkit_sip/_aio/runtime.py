# -*- test-case-name: tests.aio.test_backend -*-
"""
One run of the engine, from the backend's C{start()} to its C{close()}.

L{EngineRuntime} gathers what exists only while the backend runs: the
reactor on the application's loop, the engine, its call handler and the
callback runner.  Starting builds them in order (reactor first, then the
authenticator on its clock, then the engine); closing hangs up every call
without disconnect callbacks (the application asked), stops the engine,
and waits for the callback tasks, leaving the reactor to the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

from roomkit_sip._aio.admission import Credentials
from roomkit_sip._aio.bridge import LoopThread, as_awaitable, reactor_for_loop
from roomkit_sip._aio.callbacks import CallbackRunner
from roomkit_sip._aio.calls import CallEvents
from roomkit_sip._aio.sessions import Listeners, SessionTable
from roomkit_sip._aio.trace import TraceEmitter
from roomkit_sip.engine.config import EngineConfig

__all__ = ["EngineRuntime"]

_log = Logger()


class EngineRuntime:
    """
    @ivar engine: the C{SIPEngine} (or a test's fake).
    @ivar events: the engine's call handler.
    @ivar runner: runs the application's callbacks on the loop thread.
    @ivar reactor: the reactor on the application's loop.
    @ivar authenticated: whether the engine challenges INVITEs.
    """

    def __init__(
        self,
        engine: Any,
        events: CallEvents,
        runner: CallbackRunner,
        reactor: Any,
        authenticated: bool,
    ) -> None:
        self.engine = engine
        self.events = events
        self.runner = runner
        self.reactor = reactor
        self.authenticated = authenticated

    @classmethod
    async def start(
        cls,
        make_engine: Callable[[Any, EngineConfig, Any], Any],
        given_reactor: Any,
        config: EngineConfig,
        credentials: Credentials,
        table: SessionTable,
        listeners: Listeners,
        traces: TraceEmitter,
        invite_filter: Callable[[], Callable[..., object] | None],
    ) -> EngineRuntime:
        """
        Put the engine on the running loop and bind its SIP port.

        @param given_reactor: the backend's C{reactor=} (C{None}: install or
            reuse the asyncio reactor of this loop).
        @raise ReactorMismatchError: if Twisted cannot run on this loop.
        """
        loop = asyncio.get_running_loop()
        reactor = reactor_for_loop(loop, given_reactor)
        runner = CallbackRunner(LoopThread(loop))
        auth = credentials.authenticator(reactor, runner) if credentials.configured() else None
        events = CallEvents(table, listeners, runner, traces, reactor, invite_filter)
        engine = make_engine(reactor, config.with_changes(auth=auth), events)
        await as_awaitable(engine.start())
        traces.runner = runner
        return cls(engine, events, runner, reactor, auth is not None)

    async def close(self, table: SessionTable, traces: TraceEmitter, timeout: float) -> None:
        """
        Hang up and stop; see the module docstring.

        @param timeout: seconds for the engine to release its calls, then
            for callback tasks to finish before they are cancelled.
        @raise TimeoutError: if the engine did not stop in time (every
            session is ended regardless).
        """
        for entry in table.entries():
            entry.local = True
            traces.local_bye(entry.session)
        try:
            await asyncio.wait_for(as_awaitable(self.engine.stop(0)), timeout)
        finally:
            for entry in table.entries():
                table.finish(entry)
            await self.runner.drain(timeout)
            _log.info("SIP backend closed")
