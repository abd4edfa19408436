"""
Run one reactor-installation scenario of L{roomkit_sip._aio.bridge} in a
fresh interpreter and print its outcome as one JSON line.

The test process already has a global reactor, so the paths that depend on
what is installed run here instead, driven by
L{tests.aio.test_reactor_install}: C{python _install_probe.py SCENARIO}.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

from roomkit_sip._aio import bridge, callbacks  # noqa: F401  (import must not install)

RESULT_PREFIX = "PROBE-RESULT "
WAIT = 10.0


def _installed() -> object | None:
    return sys.modules.get("twisted.internet.reactor")


def _error(call: Callable[[], object]) -> dict[str, str]:
    try:
        call()
    except Exception as e:
        return {"type": type(e).__name__, "message": str(e)}
    return {"type": "", "message": ""}


async def _udp_echo(reactor: Any) -> str:
    from twisted.internet.defer import Deferred
    from twisted.internet.protocol import DatagramProtocol

    class Echo(DatagramProtocol):
        def datagramReceived(self, data: bytes, addr: Any) -> None:
            self.transport.write(data.upper(), addr)

    answer: Deferred[bytes] = Deferred()

    class Client(DatagramProtocol):
        def datagramReceived(self, data: bytes, addr: Any) -> None:
            answer.callback(data)

    server = reactor.listenUDP(0, Echo(), interface="127.0.0.1")
    client = reactor.listenUDP(0, Client(), interface="127.0.0.1")
    try:
        client.write(b"hello", ("127.0.0.1", server.getHost().port))
        data = await asyncio.wait_for(bridge.as_awaitable(answer), WAIT)
    finally:
        await bridge.as_awaitable(server.stopListening())
        await bridge.as_awaitable(client.stopListening())
    return data.decode()


async def fresh() -> dict[str, Any]:
    """
    Nothing installed: the bridge installs the asyncio reactor on the
    running loop, starts it without run() and reuses it on the next call.
    """
    from twisted.python import threadable

    loop = asyncio.get_running_loop()
    imported_early = _installed() is not None
    reactor = bridge.reactor_for_loop(loop)
    called: list[str] = []
    reactor.callWhenRunning(called.append, "running")
    address = await asyncio.wait_for(bridge.as_awaitable(reactor.resolve("localhost")), WAIT)
    return {
        "installed_at_import": imported_early,
        "is_global": _installed() is reactor,
        "class": type(reactor).__name__,
        "same_loop": bridge._loop_of(reactor) is loop,
        "running": reactor.running,
        "call_when_running": called,
        "io_thread": threadable.isInIOThread(),
        "reused": bridge.reactor_for_loop(loop) is reactor,
        "udp": await _udp_echo(reactor),
        "resolved": address,
        "dispose": _error(lambda: bridge.dispose_reactor(reactor)),
    }


async def user_installed() -> dict[str, Any]:
    """
    The application installed the asyncio reactor on its loop itself.
    """
    from twisted.internet import asyncioreactor

    loop = asyncio.get_running_loop()
    asyncioreactor.install(loop)
    from twisted.internet import reactor as installed

    reactor = bridge.reactor_for_loop(loop)
    return {"same": reactor is installed, "running": reactor.running}


async def mismatch() -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    return {"error": _error(lambda: bridge.reactor_for_loop(loop))}


def default_installed() -> dict[str, Any]:
    """
    Something imported twisted.internet.reactor before the backend started.
    """
    from twisted.internet import reactor  # installs the platform's default reactor

    cls = type(reactor)
    return {"installed": f"{cls.__module__}.{cls.__qualname__}", **asyncio.run(mismatch())}


def other_loop() -> dict[str, Any]:
    """
    asyncioreactor.install() ran without the loop asyncio.run() creates.
    """
    from twisted.internet import asyncioreactor

    asyncioreactor.install()
    from twisted.internet import reactor

    try:
        return asyncio.run(mismatch())
    finally:
        bridge._loop_of(reactor).close()  # the loop install() made, never run


def second_loop() -> dict[str, Any]:
    """
    The reactor installed for a first loop cannot serve a second one; an
    explicit reactor per loop can.
    """
    first = asyncio.run(fresh())

    async def again() -> dict[str, Any]:
        from twisted.internet.asyncioreactor import AsyncioSelectorReactor

        loop = asyncio.get_running_loop()
        result = await mismatch()
        own = bridge.reactor_for_loop(loop, AsyncioSelectorReactor(loop))
        try:
            result["explicit_udp"] = await _udp_echo(own)
        finally:
            bridge.dispose_reactor(own)
        return result

    return {"first_udp": first["udp"], **asyncio.run(again())}


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "fresh": lambda: asyncio.run(fresh()),
    "user-installed": lambda: asyncio.run(user_installed()),
    "default-installed": default_installed,
    "other-loop": other_loop,
    "second-loop": second_loop,
}


if __name__ == "__main__":
    outcome = SCENARIOS[sys.argv[1]]()
    sys.stdout.write(RESULT_PREFIX + json.dumps(outcome) + "\n")
