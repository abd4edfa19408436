# -*- test-case-name: tests.engine.test_engine -*-
"""
L{SIPEngine}: the public face of the call engine (C{docs/engine.md}).

It builds the engine's parts once, wires them and owns their lifetime:

  - L{SIPTransports} (UDP/TCP sockets) feed the L{TransactionLayer}, whose
    transaction user is the L{Endpoint}; everything the layer sends goes
    back out through the transports;
  - the RTP port allocator and the one L{MediaClock} every call's outbound
    audio is paced by;
  - L{EngineServices}, what each pending INVITE and call shares.

Calls are placed with L{SIPEngine.dial} (L{roomkit_sip.engine.outgoing})
and registrations kept with L{SIPEngine.register}
(L{roomkit_sip.engine.registration}).

Stopping drains: every registration is removed (un-REGISTER), new INVITEs
(and OPTIONS) get 503 with Retry-After and C{dial()} fails, calls go on for
up to C{drain_timeout} seconds, then the rest get BYE
(C{disconnect_reason="shutdown"}), INVITEs still ringing get 503 and calls
we are still placing are cancelled; once the BYEs, CANCELs and
un-REGISTERs are answered (or a few seconds passed) the transaction layer
and the sockets are closed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, fail, succeed
from twisted.logger import Logger

from roomkit_sip.engine.call import Call, CallFailed
from roomkit_sip.engine.config import EngineConfig
from roomkit_sip.engine.dialog_requests import DialogSender
from roomkit_sip.engine.endpoint import Endpoint
from roomkit_sip.engine.notify import Notifier
from roomkit_sip.engine.outgoing import OutgoingCall
from roomkit_sip.engine.registration import Registration
from roomkit_sip.engine.registry import CallRegistry
from roomkit_sip.engine.services import EngineServices
from roomkit_sip.engine.stats import EngineStats
from roomkit_sip.engine.transports import SIPTransports
from roomkit_sip.engine.uac_auth import digest_factory
from roomkit_sip.engine.uac_requests import DialRequest
from roomkit_sip.media.config import MediaConfig
from roomkit_sip.rtp.pacing import MediaClock
from roomkit_sip.sip.dialog import DialogTable
from roomkit_sip.sip.transactions import TransactionLayer
from roomkit_sip.transport.addressing import LocalAddresses, probe_route
from roomkit_sip.transport.ports import RTPPortAllocator

__all__ = ["SIPEngine"]

#: Module-level, not per instance: an event's log_source would keep the
#: object (a call and its media) alive in any observer that retains events.
_log = Logger()

#: Seconds between checks for the last call while draining.
_DRAIN_POLL = 0.1
#: Longest wait for BYE answers when stopping (64*T1 is 32 s by default).
_BYE_WAIT = 5.0


class SIPEngine:
    """
    A SIP user agent answering calls for one L{ICallHandler}.

    @param reactor: every socket and timer of the engine (C{IReactorTime},
        C{IReactorUDP}, C{IReactorTCP}); tests pass a
        L{roomkit_sip.testing.MemoryUDPReactor}.
    @param config: validated here (C{ValueError} names the bad field).
    @param handler: the L{roomkit_sip.interfaces.ICallHandler}; settable.
    @param address_probe: finds our address toward a peer when bound to a
        wildcard address (tests inject one).
    @param random: uniform [0, 1) for RFC 3261's random waits.
    """

    def __init__(
        self,
        reactor: Any,
        config: EngineConfig,
        handler: Any = None,
        *,
        address_probe: Callable[[str], str | None] = probe_route,
        random: Callable[[], float] = random.random,
    ) -> None:
        self.config = config.validate()
        self.handler = handler
        self._reactor = reactor
        sip_addresses = LocalAddresses(config.sip_host, config.advertised_ip, probe=address_probe)
        transports = SIPTransports(
            reactor, config.sip_host, config.sip_port, config.transports, sip_addresses,
            on_failure=self._transport_failed, tcp_idle_timeout=config.tcp_idle_timeout,
        )  # fmt: skip
        sender = DialogSender(transports, config.user_agent)
        stats = EngineStats()
        self._services = EngineServices(
            reactor=reactor,
            config=config,
            media_config=MediaConfig.from_settings(config),
            transports=transports,
            sender=sender,
            dialogs=DialogTable(),
            registry=CallRegistry(),
            allocator=RTPPortAllocator(
                reactor,
                config.rtp_ip,
                config.rtp_port_start,
                config.rtp_port_end,
                config.port_quarantine,
            ),  # fmt: skip
            media_clock=MediaClock(reactor),
            rtp_addresses=LocalAddresses(config.rtp_ip, config.advertised_ip, probe=address_probe),
            notifier=Notifier(lambda: self.handler, stats),
            stats=stats,
            random=random,
        )
        self._transactions = TransactionLayer(
            reactor, transports.send, Endpoint(self._services), config.timer_settings(),
            local_via=transports.local_via,
        )  # fmt: skip
        sender.transactions = self._transactions
        transports.deliver = self._transactions.receive
        self._started = False
        self._stopping: Deferred[None] | None = None
        self._drain_timer: Any = None
        self._registrations: set[Registration] = set()
        self._unregistering: list[Deferred[None]] = []

    # -- lifetime -------------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Bind the SIP transports; fails with C{CannotListenError}."""
        if self._started or self._stopping is not None:
            return fail(RuntimeError("the engine was already started"))
        try:
            host, port = self._services.transports.start()
        except Exception:
            return fail()
        self._started = True
        _log.info(
            "SIP engine listening on {host}:{port} ({transports})",
            host=host,
            port=port,
            transports=", ".join(self.config.transports),
        )
        return succeed(None)

    def stop(self, drain_timeout: float = 0) -> Deferred[None]:
        """
        Drain and stop (module docstring); fires once every call, socket,
        port and transaction is released.  Idempotent.
        """
        if self._stopping is None:
            self._stopping = Deferred()
            self._services.draining = True
            self._unregistering = [r.stop() for r in list(self._registrations)]
            deadline = self._reactor.seconds() + max(0.0, drain_timeout)
            _log.info(
                "SIP engine draining: {calls} calls, {seconds} s",
                calls=self._services.registry.claimed,
                seconds=drain_timeout,
            )
            self._drain(deadline)
        done: Deferred[None] = Deferred()
        self._stopping.addBoth(lambda result: (done.callback(None), result)[1])
        return done

    def _drain(self, deadline: float) -> None:
        self._drain_timer = None
        registry = self._services.registry
        if registry.claimed and self._reactor.seconds() < deadline:
            self._drain_timer = self._reactor.callLater(_DRAIN_POLL, self._drain, deadline)
            return
        retry = (("Retry-After", str(self.config.retry_after)),)
        closing = []
        for owner in registry.claimants():
            if isinstance(owner, Call):
                closing.append(owner._terminate("shutdown"))
            elif isinstance(owner, OutgoingCall):  # a call we place, not answered yet
                closing.append(owner.abandon(CallFailed("the engine is stopping")))
            else:  # an INVITE not answered yet
                owner._final(503, None, retry)
        byes = list(self._services.pending_byes)
        waits: list[Deferred[Any]] = [*closing, *byes, *self._unregistering]
        done = DeferredList(waits, consumeErrors=True) if waits else succeed(None)
        gate: Deferred[None] = Deferred()

        def open_gate(_: object = None) -> None:
            if not gate.called:
                gate.callback(None)

        timer = self._reactor.callLater(min(64 * self.config.t1, _BYE_WAIT), open_gate)
        done.addBoth(open_gate)
        gate.addCallback(lambda _: timer.cancel() if timer.active() else None)
        gate.addCallback(lambda _: self._close())

    def _close(self) -> Deferred[Any]:
        self._transactions.close()
        d = self._services.transports.close()
        d.addBoth(self._stopped)
        return d

    def _stopped(self, _: object) -> None:
        self._started = False
        assert self._stopping is not None
        _log.info("SIP engine stopped")
        self._stopping.callback(None)

    # -- calls we place, registrations ----------------------------------------------

    def dial(
        self,
        to_uri: str,
        from_uri: str,
        proxy_addr: tuple[str, int],
        *,
        room_id: str | None = None,
        session_id: str | None = None,
        codecs: Any = None,
        credentials: Any = None,
        extra_headers: Any = None,
        timeout: float | None = 30.0,
        transport: str = "udp",
    ) -> Deferred[Call]:
        """
        Call C{to_uri} through C{proxy_addr} (L{roomkit_sip.engine.outgoing}).

        @param room_id: the call's room (default: its Call-ID).
        @param session_id: default C{room_id}, else the Call-ID.
        @param codecs: names, payload types or C{ICodec}s to offer, in
            preference order (default: the engine's).
        @param credentials: for a 401/407: C{(username, password)}, an
            object with C{username} and C{password}, or a callable making a
            L{roomkit_sip.auth.digest_client.DigestClient}.
        @param extra_headers: more header fields for the INVITE (a dict or
            pairs; not those the engine writes).
        @param timeout: seconds to wait for the answer (C{None}: no limit).
        @param transport: C{"udp"} or C{"tcp"}.
        @return: fires with the answered L{Call}; fails with
            L{roomkit_sip.engine.CallRejected} (3xx-6xx),
            L{roomkit_sip.engine.DialTimeout}, or L{CallFailed} (no usable
            answer, engine not running, session id in use, no ports).
            Cancelling it cancels the attempt.
        @raise ValueError: a malformed argument; C{TypeError}: credentials.
        """
        if not self._started or self._stopping is not None:
            return fail(CallFailed("the engine is not running"))
        request = DialRequest.build(
            self._services, to_uri, from_uri, proxy_addr, room_id=room_id,
            session_id=session_id, codecs=codecs, credentials=credentials,
            extra_headers=extra_headers, timeout=timeout, transport=transport,
        )  # fmt: skip
        return OutgoingCall(self._services, request).start()

    def register(
        self,
        registrar_addr: tuple[str, int],
        *,
        username: str,
        password: str,
        domain: str | None = None,
        expires: int = 300,
        contact_user: str | None = None,
        transport: str = "udp",
    ) -> Registration:
        """
        Register our Contact at C{registrar_addr} and keep it fresh until
        L{stop} (L{roomkit_sip.engine.registration}); C{registration.registered}
        is a Deferred for the registrar's first answer.

        @param domain: of the address-of-record C{sip:username@domain}
            (default: the registrar's host).
        @param contact_user: the user part of our Contact (default: C{username}).
        @raise RuntimeError: the engine is not running.
        @raise ValueError: a malformed argument.
        """
        if not self._started or self._stopping is not None:
            raise RuntimeError("the engine is not running")
        registration = Registration(
            self._services, tuple(registrar_addr), username=username,  # type: ignore[arg-type]
            digest=digest_factory((username, password)), domain=domain, expires=expires,
            contact_user=contact_user, transport=transport,
            on_stopped=self._registrations.discard,
        )  # fmt: skip
        self._registrations.add(registration)
        registration.start()
        return registration

    @property
    def registrations(self) -> list[Registration]:
        """The registrations running (not stopped)."""
        return list(self._registrations)

    # -- queries --------------------------------------------------------------------

    @property
    def local_sip_addr(self) -> tuple[str, int]:
        """The bound C{(host, port)} (both transports share the port)."""
        bound = self._services.transports.bound
        if bound is None:
            return (self.config.sip_host, self.config.sip_port)
        return bound

    def get_session(self, session_id: str) -> Call | None:
        """The answered call with this session id, or C{None}."""
        return self._services.registry.get(session_id)

    def list_sessions(self, room_id: str | None = None) -> list[Call]:
        """Answered calls, all or those of one room."""
        return self._services.registry.calls(room_id)

    def stats(self) -> dict[str, Any]:
        """Engine counters (C{docs/engine.md}); plain JSON-able values."""
        services = self._services
        registry = services.registry
        return services.stats.snapshot(
            calls_active=len(registry.calls()),
            calls_pending=len(registry.pending()),
            registrations=len(self._registrations),
            draining=services.draining,
            ports=services.allocator.stats(),
            transactions=len(self._transactions),
            dialogs=len(services.dialogs),
            tcp_connections=services.transports.tcp_connections,
            sip_parse_errors=services.transports.udp_protocol.parse_errors,
        )

    # -- internals ------------------------------------------------------------------

    def _transport_failed(self, destination: tuple[str, int], transport: str) -> None:
        self._transactions.transport_failed(destination, transport)
