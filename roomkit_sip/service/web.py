# -*- test-case-name: tests.service.test_web -*-
"""
C{--http-port}: C{/healthz}, C{/metrics} and C{/calls} for load balancers,
Prometheus and people.

Bound to 127.0.0.1 unless the operator names an address (C{0.0.0.0:9100}):
C{/calls} shows callers' numbers, which should not be on the network by
default.  Every resource renders synchronously on the reactor thread, where
the engine's state may be read.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request, Site

from roomkit_sip.service.metrics import CONTENT_TYPE, render
from roomkit_sip.service.observer import CallObserver
from roomkit_sip.service.state import ServiceState


class _Endpoint(Resource):
    """A resource whose unknown children are plain 404 pages."""

    def getChild(self, path: bytes, request: Request) -> IResource:
        return notFound()


class IndexResource(_Endpoint):
    """C{/}: what is served here, for an operator with curl."""

    def getChild(self, path: bytes, request: Request) -> IResource:
        return self if path == b"" else notFound()

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return b"roomkit-sip: /healthz /metrics /calls\n"


class HealthResource(_Endpoint):
    """200 C{ok} while serving; 503 with the phase otherwise (starting, draining)."""

    def __init__(self, state: ServiceState) -> None:
        super().__init__()
        self._state = state

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        if self._state.serving:
            return b"ok\n"
        request.setResponseCode(503)
        return f"{self._state.phase}\n".encode()


class MetricsResource(_Endpoint):
    """The Prometheus scrape endpoint over a private registry."""

    def __init__(self, registry: Any) -> None:
        super().__init__()
        self._registry = registry

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", CONTENT_TYPE.encode())
        return render(self._registry)


class CallsResource(_Endpoint):
    """Live calls as a JSON list, oldest first."""

    def __init__(self, observer: CallObserver, clock: IReactorTime) -> None:
        super().__init__()
        self._observer = observer
        self._clock = clock

    def render_GET(self, request: Request) -> bytes:
        now = self._clock.seconds()
        calls = [live.snapshot(now) for live in self._observer.live_calls()]
        request.setHeader(b"Content-Type", b"application/json")
        request.setHeader(b"Cache-Control", b"no-store")
        return json.dumps(calls, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"


class QuietSite(Site):
    """A C{Site} that keeps no access log and does not announce its start
    and stop: a scrape every few seconds would bury the call log lines
    operators read."""

    noisy = False

    def log(self, request: Request) -> None:
        pass


def make_site(
    state: ServiceState,
    observer: CallObserver,
    registry: Any,
    reactor: Any,
) -> Site:
    """The resource tree: C{/healthz}, C{/metrics}, C{/calls}, an index at C{/}."""
    root = IndexResource()
    root.putChild(b"healthz", HealthResource(state))
    root.putChild(b"metrics", MetricsResource(registry))
    root.putChild(b"calls", CallsResource(observer, reactor))
    site = QuietSite(root, reactor=reactor)
    site.displayTracebacks = False
    return site
