# -*- test-case-name: tests.aio.test_backend -*-
"""
L{SIPVoiceBackend}: roomkit's C{VoiceBackend} over the Twisted call engine.

The class is the public surface and little else; each concern lives in
its own module: the keywords (L{options <roomkit_sip._aio.options>}),
authentication and the invite filter (L{admission
<roomkit_sip._aio.admission>}), the engine's events (L{calls
<roomkit_sip._aio.calls>}), live sessions (L{sessions
<roomkit_sip._aio.sessions>}), outbound audio (L{playback
<roomkit_sip._aio.playback>}), traces (L{trace <roomkit_sip._aio.trace>})
calls we place (L{outbound <roomkit_sip._aio.outbound>}) and the running
engine (L{runtime <roomkit_sip._aio.runtime>}).  Nothing touches Twisted
before C{start()}, which puts the engine on the running loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from roomkit_sip._aio import logging_bridge, outbound
from roomkit_sip._aio.admission import Credentials
from roomkit_sip._aio.bridge import as_awaitable
from roomkit_sip._aio.options import PT_G722, PT_PCMA, PT_PCMU, BackendOptions
from roomkit_sip._aio.roomkit_types import (
    VoiceBackendBase,
    VoiceCapability,
    VoiceSessionState,
)
from roomkit_sip._aio.runtime import EngineRuntime
from roomkit_sip._aio.sessions import Listeners, SessionTable
from roomkit_sip._aio.trace import TraceEmitter

__all__ = ["SIPVoiceBackend"]


class SIPVoiceBackend(VoiceBackendBase):  # type: ignore[misc]
    """
    Answers SIP calls and hands them to a roomkit application (or any asyncio
    code) as voice sessions: a drop-in for
    C{roomkit.voice.backends.sip.SIPVoiceBackend}, same keywords, same
    methods, same callback order.  See C{docs/asyncio.md}.

    Every keyword of roomkit's backend is accepted with its default; those
    the engine cannot honour yet are logged when given another value.
    C{reactor} is ours: an C{AsyncioSelectorReactor} of the running loop
    (or a test reactor); by default the asyncio reactor is installed on the
    loop that calls L{start}.
    """

    PT_PCMU = PT_PCMU
    PT_PCMA = PT_PCMA
    PT_G722 = PT_G722

    #: Seconds C{close()} waits for callback tasks before cancelling them,
    #: and for the engine to release its calls.
    close_timeout = 5.0

    _log = Logger()

    def __init__(
        self,
        *,
        local_sip_addr: tuple[str, int] = ("0.0.0.0", 5060),
        local_rtp_ip: str = "0.0.0.0",
        advertised_ip: str | None = None,
        rtp_port_start: int = 10000,
        rtp_port_end: int = 20000,
        supported_codecs: Sequence[Any] | None = None,
        dtmf_payload_type: int = 101,
        user_agent: str | None = None,
        server_name: str = "-",
        jitter_capacity: int = 32,
        jitter_prefetch: int = 0,
        skip_audio_gaps: bool = True,
        plc: bool = True,
        cn: bool = False,
        cn_payload_type: int = 13,
        playout: bool = False,
        playout_max_delay_ms: int = 200,
        duplicate_tx: bool = False,
        symmetric_rtp: bool = False,
        rtp_inactivity_timeout: float = 30.0,
        rtp_establishment_timeout: float = 60.0,
        max_sessions: int = 0,
        auth_users: Mapping[str, Any] | None = None,
        auth_realm: str = "roomkit",
        send_silence_on_answer: float = 0.0,
        outbound_silence_fill: bool = False,
        pacer_prebuffer_ms: float = 80,
        pacer_jitter_headroom_ms: float = 60,
        reactor: Any = None,
    ) -> None:
        # The signature spells roomkit's keywords out for help() and IDEs; they
        # are kept together, by name, in one value.
        given = locals()
        # Our log events reach the application's stdlib logging (first).
        logging_bridge.install()
        self._options = BackendOptions(**{k: given[k] for k in BackendOptions.keywords()})
        # Validated (and unsupported keywords reported) now, not at the first call.
        self._config = self._options.engine_config()
        self._credentials = Credentials(auth_users, auth_realm)
        self._given_reactor = reactor
        self._listeners = Listeners()
        self._table = SessionTable()
        self._traces = TraceEmitter()
        self._invite_filter: Callable[..., object] | None = None
        self._runtime: EngineRuntime | None = None
        self._closing: asyncio.Future[None] | None = None

    # -- identity

    @property
    def name(self) -> str:
        return "SIP"

    @property
    def capabilities(self) -> Any:
        """Out-of-band DTMF, and C{cancel_audio} that really stops RTP."""
        return VoiceCapability.DTMF_SIGNALING | VoiceCapability.INTERRUPTION

    @property
    def supports_playback_callback(self) -> bool:
        return True

    @property
    def local_sip_addr(self) -> tuple[str, int]:
        """
        The SIP address: the bound one once started (so a port of 0 shows
        the port chosen), the configured one before.
        """
        if self._runtime is not None:
            host, port = self._runtime.engine.local_sip_addr
            return (host, int(port))
        host, port = self._options.local_sip_addr
        return (host, port)

    @property
    def _audio_received_callback(self) -> Callable[..., Any] | None:
        # roomkit's base class reads this name for audio_received_callback.
        return self._listeners.audio

    # -- lifecycle

    def _make_engine(self, reactor: Any, config: Any, handler: Any) -> Any:
        """Build the call engine (a test replaces this with a fake)."""
        from roomkit_sip.engine import SIPEngine  # type: ignore[attr-defined]

        return SIPEngine(reactor, config, handler=handler)

    async def start(self) -> None:
        """
        Listen for calls: put the engine on the running loop and bind the
        SIP port.

        @raise ReactorMismatchError: if Twisted cannot run on this loop (the
            message says what to change).
        @raise RuntimeError: if already started.
        """
        if self._runtime is not None:
            raise RuntimeError("SIPVoiceBackend is already started")
        self._runtime = await EngineRuntime.start(
            self._make_engine,
            self._given_reactor,
            self._config,
            self._credentials,
            self._table,
            self._listeners,
            self._traces,
            self._current_filter,
        )
        self._closing = None
        host, port = self.local_sip_addr
        self._log.info("SIP backend listening on {host}:{port}", host=host, port=port)

    async def close(self) -> None:
        """
        Hang up every call (without disconnect callbacks: the application
        asked), stop the engine, and wait for callback tasks.  Idempotent:
        a second call waits for the first.  The reactor stays, ready for
        another L{start} on this loop.
        """
        if self._closing is not None:
            await asyncio.shield(self._closing)
            return
        self._closing = asyncio.get_running_loop().create_future()
        try:
            await self._close()
        finally:
            self._closing.set_result(None)

    async def _close(self) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            await runtime.close(self._table, self._traces, self.close_timeout)

    # -- registration (all usable before start)

    def on_call(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """C{callback(session)} once a call is answered; replaces the previous one."""
        self._listeners.on_call = callback
        return callback

    def on_call_disconnected(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """C{callback(session)} when the far end or the network ends a call."""
        return self._listeners.disconnected.register(callback)

    def on_client_disconnected(self, callback: Callable[..., Any]) -> Callable[[], None]:
        """As L{on_call_disconnected} (same list); returns an unsubscribe function."""
        return self._listeners.disconnected.subscribe(callback)

    def on_dtmf_received(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """C{callback(session, DTMFEvent)} once per key press."""
        return self._listeners.dtmf.register(callback)

    def on_audio_received(self, callback: Callable[..., Any]) -> None:
        """C{callback(session, AudioFrame)} per inbound frame; replaces the previous one."""
        self._listeners.audio = callback

    def subscribe_audio_received(self, callback: Callable[..., Any]) -> Callable[[], None]:
        """An audio listener beside the primary one; returns an unsubscribe function."""
        return self._listeners.audio_subscribers.subscribe(callback)

    def on_session_ready(self, callback: Callable[..., Any]) -> None:
        """C{callback(session)} after C{on_call}: the audio path is live."""
        self._listeners.session_ready.register(callback)

    def on_barge_in(self, callback: Callable[..., Any]) -> None:
        """Accepted for the API; never called (the pipeline detects barge-in)."""
        self._listeners.barge_in.register(callback)

    def on_audio_played(self, callback: Callable[..., Any]) -> Callable[[], None]:
        """C{callback(session, AudioFrame)} per frame sent; returns an unsubscribe function."""
        return self._listeners.played.subscribe(callback)

    def set_trace_emitter(self, emitter: Callable[..., Any] | None) -> None:
        self._traces.emitter = emitter

    def set_invite_filter(self, invite_filter: Callable[..., object] | None) -> None:
        """
        C{invite_filter(call)} (sync or async) decides before the answer:
        C{None} accepts, C{(status, reason)} or C{call.reject(...)} refuses.
        C{call} is a read-only L{InviteView <roomkit_sip._aio.incoming.InviteView>}.
        """
        self._invite_filter = invite_filter

    def _current_filter(self) -> Callable[..., object] | None:
        return self._invite_filter

    def set_auth_resolver(self, resolver: Callable[[str], object] | None) -> None:
        """
        C{resolver(username)} returns the password (or an awaitable of it),
        C{None} to refuse; it takes precedence over C{auth_users}.
        """
        self._credentials.set_resolver(resolver)
        runtime = self._runtime
        if runtime is not None and resolver is not None and not runtime.authenticated:
            self._log.warn(
                "set_auth_resolver() after start(): the backend started without "
                "authentication, which stays off until the next start()"
            )

    def has_auth(self) -> bool:
        return self._credentials.configured()

    # -- sessions

    async def connect(
        self,
        room_id: str,
        participant_id: str,
        channel_id: str,
        *,
        metadata: dict[str, Any] | None = None,
    ) -> Any:
        """
        Hand out the session of an answered call, named by
        C{metadata["session_id"]}, moved to C{room_id}/C{channel_id}.

        @raise ValueError: if no live session has that id.
        """
        entry = self._table.get((metadata or {}).get("session_id"))
        if entry is None:
            raise ValueError(
                "SIPVoiceBackend.connect() needs metadata['session_id'] naming the "
                "session of an answered call"
            )
        entry.session.room_id = room_id
        entry.session.channel_id = channel_id
        return entry.session

    async def disconnect(
        self, session: Any, *, cause: int | None = None, text: str | None = None
    ) -> None:
        """
        Hang up (BYE, with an RFC 3326 Q.850 C{Reason} when C{cause} is
        given).  Disconnect callbacks are not called: the application
        knows.  Like roomkit's, this always leaves the session C{ENDED}; one
        that is not live is not hung up again.
        """
        entry = self._table.get(session.id)
        if entry is None or entry.ended:
            if session.state is not VoiceSessionState.ENDED:
                session.state = VoiceSessionState.ENDED
            return
        entry.local = True
        self._traces.local_bye(entry.session)
        try:
            await asyncio.shield(as_awaitable(entry.call.hangup(cause=cause, text=text)))
        except Exception:
            self._log.failure("Hanging up session {session_id} failed", session_id=session.id)
        finally:
            self._table.finish(entry)
        self._log.info("SIP session disconnected: session={session_id}", session_id=session.id)

    def get_session(self, session_id: str) -> Any:
        entry = self._table.get(session_id)
        return entry.session if entry is not None else None

    def list_sessions(self, room_id: str) -> list[Any]:
        return self._table.sessions(room_id)

    def get_codec_rate(self, session_id: str) -> int:
        """The PCM rate of the session's codec; 8000 for an unknown session."""
        entry = self._table.get(session_id)
        return int(entry.call.sample_rate) if entry is not None else 8000

    # -- media

    async def send_audio(self, session: Any, audio: bytes | AsyncIterator[Any]) -> None:
        """
        C{bytes} (PCM at the codec rate) are queued and this returns;
        C{AudioChunk}s are resampled to the codec rate when needed and this
        returns once they have been played, or cut by L{cancel_audio}.
        """
        entry = self._table.get(session.id)
        if entry is None:
            self._log.warn("send_audio: no live session {session_id}", session_id=session.id)
            return
        if isinstance(audio, bytes | bytearray | memoryview):
            entry.playback.push(bytes(audio))
            return
        await entry.playback.play(audio)

    def send_audio_sync(self, session: Any, chunk: Any) -> None:
        """One frame straight to RTP, bypassing the queue (audio bridges)."""
        entry = self._table.get(session.id)
        if entry is not None:
            entry.playback.send_now(chunk)

    async def cancel_audio(self, session: Any) -> bool:
        """Stop playback within a frame; whether anything was playing."""
        entry = self._table.get(session.id)
        return entry.playback.cancel() if entry is not None else False

    def end_of_response(self, session: Any) -> None:
        entry = self._table.get(session.id)
        if entry is not None:
            entry.playback.end_of_response()

    async def wait_playback(self, session: Any) -> bool:
        """Wait for queued audio to be played; C{False} if it was cut."""
        entry = self._table.get(session.id)
        return await entry.playback.wait() if entry is not None else True

    def is_playing(self, session: Any) -> bool:
        entry = self._table.get(session.id)
        return entry.playback.is_playing if entry is not None else False

    def send_dtmf(self, session: Any, digit: str, duration_ms: int = 160) -> None:
        """An RFC 4733 key press to the far end."""
        entry = self._table.get(session.id)
        if entry is None:
            self._log.warn("send_dtmf: no live session {session_id}", session_id=session.id)
            return
        sent = entry.call.send_dtmf(digit, duration_ms)
        if isinstance(sent, Deferred):
            sent.addErrback(
                lambda f: self._log.failure(
                    "DTMF {digit} to {session_id} failed", f, digit=digit, session_id=session.id
                )
            )

    async def send_transcription(self, session: Any, text: str, role: str = "user") -> None:
        """SIP has no text channel: the line is logged."""
        label = "User" if role == "user" else "Assistant"
        self._log.info("[{label}] {text}", label=label, text=text)

    # -- calls we place

    async def dial(
        self,
        to_uri: str,
        from_uri: str,
        proxy_addr: tuple[str, int],
        *,
        room_id: str | None = None,
        channel_id: str = "voice",
        codec: int = PT_PCMU,
        auth: Any = None,
        extra_headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Any:
        """
        Call C{to_uri} through C{proxy_addr}; the answered session (also
        given to C{on_call} and the session-ready callbacks).

        @param auth: credentials for a 401/407: C{(username, password)} or
            an object with C{username} and C{password} (aiosipua's
            C{SipDigestAuth}).
        @raise RuntimeError: not started, or the call was refused.
        @raise TimeoutError: not answered within C{timeout} seconds.
        """
        if self._runtime is None:
            raise RuntimeError("SIPVoiceBackend.start() must be called before dial()")
        return await outbound.dial(
            self._runtime.engine,
            self._runtime.events,
            self._traces,
            to_uri,
            from_uri,
            proxy_addr,
            room_id=room_id,
            channel_id=channel_id,
            codec=codec,
            auth=auth,
            extra_headers=extra_headers,
            timeout=timeout,
            silence_s=self._options.send_silence_on_answer,
        )

    async def register(
        self,
        registrar_addr: tuple[str, int],
        *,
        username: str,
        password: str,
        domain: str | None = None,
        expires: int = 300,
    ) -> None:
        """
        Register with a registrar, kept fresh until L{close}.

        @raise RuntimeError: not started, or the registrar refused.
        @raise TimeoutError: no answer within 5 seconds.
        """
        if self._runtime is None:
            raise RuntimeError("SIPVoiceBackend.start() must be called before register()")
        await outbound.register(
            self._runtime.engine,
            self._runtime.reactor,
            registrar_addr,
            username,
            password,
            domain=domain,
            expires=expires,
        )
