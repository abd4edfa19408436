"""
A call engine written from C{docs/engine.md}, for testing the asyncio
backend without SIP or sockets.

L{FakeEngine} has the documented C{SIPEngine} members; L{FakeCall} has the
documented C{Call} members, with a small real pacer: queued PCM leaves in
20 ms frames on the reactor's clock (a L{MemoryUDPReactor} the test
advances, or a real reactor), each frame reported to C{on_played}
subscribers as a C{PlayedFrame}, the end of a response padded and reported
with C{ended=True}, C{wait_playback()} firing C{True} when drained and
C{False} when interrupted.  The test plays the far end: L{FakeEngine.invite}
runs the handler's C{incoming_call} and answers, L{FakeEngine.end} ends a
call for a given reason, L{FakeCall.hear} and L{FakeCall.press} deliver
audio and key presses.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IReactorTime

from roomkit_sip.codecs.g711 import PCMA, PCMU
from roomkit_sip.codecs.g722 import G722
from roomkit_sip.engine.events import DTMFEvent, PlayedFrame

__all__ = ["CallFailed", "FakeCall", "FakeEngine", "FakeIncomingCall"]

_ids = itertools.count(1)
_T = TypeVar("_T")

CODECS = {"PCMU": PCMU, "PCMA": PCMA, "G722": G722}

FRAME_S = 0.02


class CallFailed(Exception):
    """The documented failure of C{dial()} on a 3xx-6xx answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


class FakeCall:
    """
    A C{Call}.

    @ivar sent: PCM of every frame that "went out as RTP", in order, with
        the clock time it left at.
    @ivar sent_now: PCM given to C{send_audio_now}.
    @ivar dtmf_sent: C{(digit, duration_ms)} of C{send_dtmf} calls.
    @ivar hangups: C{(cause, text)} of C{hangup} calls.
    """

    def __init__(
        self,
        engine: FakeEngine,
        *,
        codec: str = "PCMU",
        call_id: str | None = None,
        caller: str = "sip:alice@127.0.0.1:5070",
        callee: str = "sip:bot@127.0.0.1",
        x_headers: dict[str, str] | None = None,
        direction: str = "inbound",
        prebuffer_ms: int = 80,
    ) -> None:
        n = next(_ids)
        self._engine = engine
        self._clock: IReactorTime = engine.reactor
        headers = dict(x_headers or {})
        self.call_id = call_id or f"call-{n}@fake"
        self.session_id = headers.get("X-Session-ID") or self.call_id
        self.room_id = headers.get("X-Room-ID") or self.call_id
        self.participant_id = headers.get("X-Session-ID") or caller
        self.direction = direction
        self.state = "active"
        self.codec = CODECS[codec]
        self.sample_rate = self.codec.sample_rate
        self.clock_rate = self.codec.clock_rate
        self.metadata: dict[str, Any] = {
            "backend": "sip",
            "call_id": self.call_id,
            "caller": caller,
            "callee": callee,
            "caller_display_name": "Alice",
            "caller_user": "alice",
            "room_id": self.room_id,
            "session_id": self.session_id,
            "x_headers": headers,
            "input_sample_rate": self.sample_rate,
            "output_sample_rate": self.sample_rate,
            "codec_sample_rate": self.sample_rate,
            "codec": self.codec.encoding_name,
            "rtp_clock_rate": self.clock_rate,
            "direction": direction,
        }
        self._frame = self.sample_rate // 50 * 2
        self._prebuffer = prebuffer_ms * self.sample_rate // 1000 * 2
        self._queue = bytearray()
        self._response_ended = False
        self._started = False
        self._timer: Any = None
        self._rtp_ts = 0
        self._waiters: list[Deferred[bool]] = []
        self._played: list[Callable[..., Any]] = []
        self.sent: list[tuple[float, bytes]] = []
        self.sent_now: list[bytes] = []
        self.dtmf_sent: list[tuple[str, int]] = []
        self.hangups: list[tuple[int | None, str | None]] = []
        self.hangup_result: Deferred[None] | None = None

    # -- documented members

    def send_audio(self, pcm: bytes) -> None:
        self._check_live()
        self._queue.extend(pcm)
        self._response_ended = False
        self._schedule()

    def end_of_response(self) -> None:
        self._response_ended = True
        self._schedule()

    def wait_playback(self) -> Deferred[bool]:
        if not self.is_playing:
            return succeed(True)
        d: Deferred[bool] = Deferred()
        self._waiters.append(d)
        return d

    def interrupt(self) -> bool:
        was_playing = self.is_playing
        self._queue.clear()
        self._stop_timer()
        if was_playing:
            self.report_played(b"", 0, ended=True)
        self._settle(False)
        return was_playing

    @property
    def is_playing(self) -> bool:
        return bool(self._queue) or self._started

    def send_audio_now(self, pcm: bytes) -> None:
        self._check_live()
        self.sent_now.append(bytes(pcm))

    def send_dtmf(self, digit: str, duration_ms: int = 160) -> None:
        self._check_live()
        self.dtmf_sent.append((digit, duration_ms))

    def on_played(self, callback: Callable[..., Any]) -> Callable[[], None]:
        self._played.append(callback)

        def unsubscribe() -> None:
            if callback in self._played:
                self._played.remove(callback)

        return unsubscribe

    def hangup(self, cause: int | None = None, text: str | None = None) -> Deferred[None]:
        self.hangups.append((cause, text))
        if self.hangup_result is not None:
            return self.hangup_result
        self._engine.end(self, "local_hangup")
        return succeed(None)

    def stats(self) -> dict[str, Any]:
        return {"packets_out": len(self.sent)}

    # -- the far end

    def hear(self, pcm: bytes) -> None:
        """The caller's audio arrives, decoded."""
        self._engine.handler.audio_received(self, pcm)

    def press(self, digit: str, duration_ms: float = 160.0) -> None:
        """The caller presses a key (RFC 4733)."""
        self._engine.handler.dtmf_received(self, DTMFEvent(digit, duration_ms))

    # -- the pacer

    def _check_live(self) -> None:
        if self.state == "ended":
            raise RuntimeError(f"{self.call_id} has ended")

    def _schedule(self) -> None:
        if self._timer is None and self.state != "ended":
            ready = len(self._queue) >= self._prebuffer or self._response_ended
            if self._started or (ready and self._queue):
                self._started = True
                self._timer = self._clock.callLater(0, self._tick)
            elif self._response_ended and not self._queue:
                self._settle(True)

    def _stop_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self._started = False

    def _tick(self) -> None:
        self._timer = None
        if len(self._queue) >= self._frame or (self._queue and self._response_ended):
            chunk = bytes(self._queue[: self._frame])
            del self._queue[: self._frame]
            played = len(chunk)
            pcm = chunk + b"\x00" * (self._frame - len(chunk))
            self.sent.append((self._clock.seconds(), pcm))
            self.report_played(pcm, played)
            self._rtp_ts += self.clock_rate // 50
            self._timer = self._clock.callLater(FRAME_S, self._tick)
            return
        if self._response_ended:
            self._started = False
            self.report_played(b"", 0, ended=True)
            self._settle(True)
        else:
            # Underrun mid-response: wait for more audio.
            self._timer = self._clock.callLater(FRAME_S, self._tick)

    def report_played(self, pcm: bytes, played: int, ended: bool = False) -> None:
        """Tell C{on_played} subscribers a frame went out (the engine's report)."""
        queued_ms = len(self._queue) / 2 / self.sample_rate * 1000
        frame = PlayedFrame(pcm, self._rtp_ts, played, queued_ms, ended)
        for callback in list(self._played):
            callback(self, frame)

    def _settle(self, result: bool) -> None:
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(result)

    def _end(self, reason: str) -> None:
        self._queue.clear()
        self._stop_timer()
        self._settle(False)
        self.state = "ended"
        self.metadata["disconnect_reason"] = reason


class FakeIncomingCall:
    """An C{IncomingCall}: the read-only part and the C{request}."""

    MANUAL = object()

    def __init__(self, call: FakeCall, sdp_offer: str | None, request: bytes | None) -> None:
        self.call_id = call.call_id
        self.caller = call.metadata["caller"]
        self.callee = call.metadata["callee"]
        self.caller_display_name = call.metadata["caller_display_name"]
        headers = call.metadata["x_headers"]
        self.room_id = headers.get("X-Room-ID")
        self.session_id = headers.get("X-Session-ID")
        self.x_headers = dict(headers)
        self.source_addr = ("127.0.0.1", 5070)
        self.sdp_offer = sdp_offer
        self.request = _Raw(request) if request is not None else None


class _Raw:
    """A stand-in for a parsed INVITE: C{bytes(request)} serialises it."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __bytes__(self) -> bytes:
        return self._data


class FakeEngine:
    """
    A C{SIPEngine}.

    @ivar dials: the arguments of each C{dial()}, with the Deferred to fire.
    @ivar registrations: the arguments of each C{register()}, likewise.
    @ivar rejected: C{(call_id, status, reason)} of refused INVITEs.
    """

    def __init__(self, reactor: Any, config: Any, handler: Any = None) -> None:
        self.reactor = reactor
        self.config = config
        self.handler = handler
        self.started = False
        self.stops: list[float] = []
        self.live: dict[str, FakeCall] = {}
        self.ended: list[FakeCall] = []
        self.dials: list[tuple[tuple[Any, ...], dict[str, Any], Deferred[Any]]] = []
        self.registrations: list[tuple[tuple[Any, ...], dict[str, Any], Deferred[Any]]] = []
        self.rejected: list[tuple[str, int, str]] = []
        self.local_sip_addr = (config.sip_host, config.sip_port or 5060)

    def start(self) -> Deferred[None]:
        self.started = True
        return succeed(None)

    def stop(self, drain_timeout: float = 0) -> Deferred[None]:
        self.stops.append(drain_timeout)
        for call in list(self.live.values()):
            self.end(call, "shutdown")
        return succeed(None)

    def get_session(self, session_id: str) -> FakeCall | None:
        return self.live.get(session_id)

    def list_sessions(self, room_id: str | None = None) -> list[FakeCall]:
        return [c for c in self.live.values() if room_id is None or c.room_id == room_id]

    def dial(self, *args: Any, **kwargs: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.dials.append((args, kwargs, d))
        return d

    def register(self, *args: Any, **kwargs: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.registrations.append((args, kwargs, d))
        return d

    def stats(self) -> dict[str, Any]:
        return {"calls_active": len(self.live)}

    # -- what the far end does

    def invite(
        self, *, sdp_offer: str | None = "v=0\r\n", request: bytes | None = None, **call_kw: Any
    ) -> Deferred[FakeCall | None]:
        """
        An INVITE: ask the handler, answer or refuse as it says.

        @return: a Deferred firing with the answered call, or C{None} if
            refused (see L{rejected}).
        """
        call = FakeCall(self, **call_kw)
        incoming = FakeIncomingCall(call, sdp_offer, request)
        d = maybeDeferred(self.handler.incoming_call, incoming)

        def decided(verdict: Any) -> FakeCall | None:
            if verdict is not None:
                status, reason = verdict
                self.rejected.append((call.call_id, status, reason))
                return None
            self.live[call.session_id] = call
            self.handler.call_answered(call)
            return call

        return d.addCallback(decided)

    def answer_dial(self, index: int = 0, **call_kw: Any) -> FakeCall:
        """The callee of the C{index}-th dial answers."""
        args, kwargs, d = self.dials[index]
        call = FakeCall(self, direction="outbound", **call_kw)
        self.live[call.session_id] = call
        d.callback(call)
        return call

    def end(self, call: FakeCall, reason: str, **metadata: Any) -> None:
        """The engine frees C{call} for C{reason}, then tells the handler."""
        if call.state == "ended":
            return
        call.metadata.update(metadata)
        call._end(reason)
        self.live.pop(call.session_id, None)
        self.ended.append(call)
        self.handler.call_ended(call)


# -- driving a backend built on the fake engine


def fake_backend_class() -> type:
    """
    C{SIPVoiceBackend} building a L{FakeEngine}: imported late so that this
    module stays importable when the backend is broken (the tests then
    fail, not the collection).
    """
    from roomkit_sip.asyncio import SIPVoiceBackend

    class FakeEngineBackend(SIPVoiceBackend):  # type: ignore[misc, valid-type]
        fake_engine: FakeEngine | None = None

        def _make_engine(self, reactor: Any, config: Any, handler: Any) -> FakeEngine:
            self.fake_engine = FakeEngine(reactor, config, handler)
            return self.fake_engine

    return FakeEngineBackend


def run_backend(
    scenario: Callable[[Any, Any], Awaitable[_T]], *, start: bool = True, **keywords: Any
) -> _T:
    """
    Run C{scenario(backend, clock)} on a fresh loop: a backend on a
    L{FakeEngine}, both timed by a L{MemoryUDPReactor} the scenario
    advances.  The backend is closed afterwards, whatever happens.

    @param start: start the backend before the scenario.
    @param keywords: for the backend's constructor.
    """
    from roomkit_sip.testing import MemoryUDPReactor
    from tests.aio import run_scenario

    async def main(_: object) -> _T:
        clock = MemoryUDPReactor()
        keywords.setdefault("local_sip_addr", ("127.0.0.1", 5062))
        backend = fake_backend_class()(reactor=clock, **keywords)
        try:
            if start:
                await backend.start()
            return await scenario(backend, clock)
        finally:
            await backend.close()

    return run_scenario(main)


async def answer(backend: Any, **call_kw: Any) -> FakeCall:
    """An INVITE the backend answers; the engine's call."""
    from roomkit_sip._aio.bridge import as_awaitable

    call = await as_awaitable(backend.fake_engine.invite(**call_kw))
    assert call is not None, "the backend refused the call"
    return call


async def turn(times: int = 5) -> None:
    """Let the loop run what is ready (tasks started by callbacks), no timers."""
    import asyncio

    for _ in range(times):
        await asyncio.sleep(0)


async def advance(clock: Any, seconds: float, step: float = FRAME_S) -> None:
    """Move the fake clock on in frame steps, letting the loop run after each."""
    steps = round(seconds / step)
    for _ in range(steps):
        clock.advance(step)
        await turn()


async def until(clock: Any, predicate: Callable[[], bool], limit: float = 10.0) -> float:
    """
    Advance the fake clock frame by frame until C{predicate()} holds.

    @return: the simulated seconds it took.
    @raise AssertionError: if it does not hold within C{limit} seconds.
    """
    waited = 0.0
    await turn()
    while not predicate():
        if waited >= limit:
            raise AssertionError(f"condition not met within {limit} simulated seconds")
        clock.advance(FRAME_S)
        waited += FRAME_S
        await turn()
    return waited
