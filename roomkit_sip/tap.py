# -*- test-case-name: tests.service.test_tap -*-
"""
C{twistd roomkit-sip}: the command line and the service it builds.

Import-light on purpose: twistd imports this module to show
C{twistd roomkit-sip --help}, so the engine, the applications, twisted.web,
treq and prometheus_client are imported inside L{makeService} only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.application.service import IService

from roomkit_sip.service.options import Options

__all__ = ["Options", "makeService"]

#: What L{makeService} calls to build the engine: C{(reactor, config, handler=)}.
EngineFactory = Callable[..., Any]


def _sip_engine(reactor: Any, config: Any, handler: Any) -> Any:
    from roomkit_sip.engine import SIPEngine

    return SIPEngine(reactor, config, handler=handler)


def makeService(
    options: Options, *, reactor: Any = None, engine_factory: EngineFactory | None = None
) -> IService:
    """
    Build the service tree from parsed C{options}.

    @param reactor: defaults to the global reactor (twistd's); tests pass a
        fake.
    @param engine_factory: builds the engine as
        C{engine_factory(reactor, config, handler=observer)}; defaults to
        L{roomkit_sip.engine.SIPEngine}.
    """
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    if engine_factory is None:
        engine_factory = _sip_engine

    from roomkit_sip.service.apps import build_app
    from roomkit_sip.service.logfilter import QuietCallLogs
    from roomkit_sip.service.observer import CallObserver
    from roomkit_sip.service.service import EngineService, RoomkitSIPService
    from roomkit_sip.service.state import ServiceState

    state = ServiceState()
    webhooks = None
    if options["webhook"] is not None:
        from roomkit_sip.service.webhooks import WebhookPoster

        webhooks = WebhookPoster(reactor, options["webhook"])
    app, cleanups = build_app(options, reactor)
    observer = CallObserver(app, reactor, webhooks.post if webhooks is not None else None)
    engine = engine_factory(
        reactor, options.engine_config(auth=_authenticator(options, reactor)), handler=observer
    )
    http_service = None
    if options.http_address is not None:
        http_service = _http_service(
            options.http_address, state, observer, engine, webhooks, reactor
        )
    return RoomkitSIPService(
        state,
        EngineService(engine, reactor, options["drain-timeout"], state),
        http_service,
        webhooks,
        cleanups,
        live_calls=lambda: len(observer.live_calls()),
        log_filter=QuietCallLogs(options["rtp-ports"]),
        reactor=reactor,
    )


def _authenticator(options: Options, reactor: Any) -> Any:
    if options.auth_provider is None:
        return None
    from roomkit_sip.auth.authenticator import DigestAuthenticator

    # A fresh nonce key per process: nonces from before a restart are
    # answered with a stale challenge, which clients retry transparently.
    return DigestAuthenticator(
        options.auth_provider,
        options["realm"],
        os.urandom(32),
        reactor,
        algorithms=options.auth_algorithms,
    )


def _http_service(
    address: tuple[str, int], state: Any, observer: Any, engine: Any, webhooks: Any, reactor: Any
) -> IService:
    from twisted.application.internet import TCPServer

    from roomkit_sip.service.metrics import ServiceCollector, make_registry
    from roomkit_sip.service.web import make_site

    registry = make_registry(ServiceCollector(observer, engine.stats, state, webhooks))
    interface, port = address
    service = TCPServer(
        port, make_site(state, observer, registry, reactor), interface=interface, reactor=reactor
    )
    service.setName("http")
    return service
