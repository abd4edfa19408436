"""
Stand-ins for the call engine, following C{docs/engine.md} and the engine as
built (C{send_audio_now} returns whether the frame went out, C{send_dtmf} a
C{Deferred[bool]}, C{is_playing} is a property), so the service's logic is
tested without sockets; C{tests/interop/test_service_*.py} run it against the
real engine.

Each fake records what the code under test asked of it and lets the test
decide every outcome (a Deferred it fires, a stats dict, an error).
"""

from __future__ import annotations

import itertools
import struct
from typing import Any

from twisted.internet.defer import Deferred, succeed

from roomkit_sip.codecs.g711 import PCMA, PCMU
from roomkit_sip.codecs.g722 import G722
from roomkit_sip.engine.events import DTMFEvent

_ids = itertools.count(1)

#: Codec providers by name, for building calls.
CODECS = {"PCMU": PCMU, "PCMA": PCMA, "G722": G722}


class FakeCall:
    """
    A C{Call} as the engine documents it.

    @ivar sent: PCM given to C{send_audio}, in order.
    @ivar sent_now: PCM given to C{send_audio_now}, in order.
    @ivar playbacks: one Deferred per C{wait_playback()} call, for the test to fire.
    @ivar hangups: C{(cause, text)} of each C{hangup()}.
    @ivar log: every method called, by name, in order.
    """

    def __init__(
        self,
        call_id: str | None = None,
        *,
        session_id: str | None = None,
        codec: str = "PCMU",
        caller: str = "sip:alice@example.com",
        callee: str = "sip:bot@example.net",
        x_headers: dict[str, str] | None = None,
        stats: dict[str, Any] | None = None,
    ) -> None:
        n = next(_ids)
        self.call_id = call_id or f"call-{n}@example.com"
        self.session_id = session_id or self.call_id
        self.room_id = (x_headers or {}).get("X-Room-ID", self.call_id)
        self.participant_id = self.session_id
        self.direction = "inbound"
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
            "x_headers": dict(x_headers or {}),
            "codec": self.codec.encoding_name,
            "codec_sample_rate": self.sample_rate,
            "direction": "inbound",
        }
        self._stats = dict(stats or {})
        self.sent: list[bytes] = []
        self.sent_now: list[bytes] = []
        self.playbacks: list[Deferred[bool]] = []
        self.hangups: list[tuple[int | None, str | None]] = []
        self.hangup_result: Deferred[None] | None = None
        self.log: list[str] = []

    # -- the documented members

    def send_audio(self, pcm: bytes) -> None:
        self.log.append("send_audio")
        self.sent.append(bytes(pcm))

    def send_audio_now(self, pcm: bytes) -> bool:
        self.log.append("send_audio_now")
        self.sent_now.append(bytes(pcm))
        return self.state != "ended"

    def end_of_response(self) -> None:
        self.log.append("end_of_response")

    def wait_playback(self) -> Deferred[bool]:
        self.log.append("wait_playback")
        d: Deferred[bool] = Deferred()
        self.playbacks.append(d)
        return d

    def interrupt(self) -> bool:
        self.log.append("interrupt")
        waiting = [d for d in self.playbacks if not d.called]
        for d in waiting:
            d.callback(False)
        return bool(waiting)

    @property
    def is_playing(self) -> bool:
        return any(not d.called for d in self.playbacks)

    def send_dtmf(self, digit: str, duration_ms: float = 160) -> Deferred[bool]:
        self.log.append("send_dtmf")
        return succeed(self.state in ("active", "early"))

    def hangup(self, cause: int | None = None, text: str | None = None) -> Deferred[None]:
        self.log.append("hangup")
        self.hangups.append((cause, text))
        return self.hangup_result if self.hangup_result is not None else succeed(None)

    def stats(self) -> dict[str, Any]:
        if isinstance(self._stats, Exception):
            raise self._stats
        return dict(self._stats)

    # -- test controls

    def set_stats(self, stats: dict[str, Any] | Exception) -> None:
        self._stats = stats

    def end(self, reason: str = "remote_bye", bye_reason: dict[str, Any] | None = None) -> None:
        """What the engine does to a call before C{call_ended}."""
        self.state = "ended"
        self.metadata["disconnect_reason"] = reason
        if bye_reason is not None:
            self.metadata["bye_reason"] = bye_reason


class FakeIncomingCall:
    """An C{IncomingCall} for a L{FakeCall}."""

    MANUAL = object()

    def __init__(self, call: FakeCall) -> None:
        self.call_id = call.call_id
        self.session_id = call.session_id
        self.room_id = call.room_id
        self.caller = call.metadata["caller"]
        self.callee = call.metadata["callee"]
        self.caller_display_name = call.metadata["caller_display_name"]
        self.x_headers = dict(call.metadata["x_headers"])
        self.source_addr = ("192.0.2.10", 5060)


class FakeEngine:
    """
    A C{SIPEngine}: C{start()} and C{stop()} return Deferreds the test
    controls; the calls it "has" are whatever the test drives through
    L{answer} and L{hang_up}.

    @ivar stops: the C{drain_timeout} of each C{stop()} call.
    """

    def __init__(self, reactor: Any, config: Any, handler: Any = None) -> None:
        self.reactor = reactor
        self.config = config
        self.handler = handler
        self.start_result: Deferred[None] = succeed(None)
        self.starts = 0
        self.stops: list[float] = []
        self.stop_result: Deferred[None] | None = None
        self.local_sip_addr = (config.sip_host, config.sip_port or 5060)
        self.engine_stats: dict[str, Any] | Exception = {"rejected": {}, "auth_failures": 0}
        self.live: list[FakeCall] = []

    def start(self) -> Deferred[None]:
        self.starts += 1
        return self.start_result

    def stop(self, drain_timeout: float = 0) -> Deferred[None]:
        self.stops.append(drain_timeout)
        if self.stop_result is None:
            self.stop_result = Deferred()
        return self.stop_result

    def stats(self) -> dict[str, Any]:
        if isinstance(self.engine_stats, Exception):
            raise self.engine_stats
        return self.engine_stats

    def list_sessions(self, room_id: str | None = None) -> list[FakeCall]:
        return [c for c in self.live if room_id is None or c.room_id == room_id]

    # -- what the real engine would do on the wire

    def answer(self, call: FakeCall) -> Any:
        """An INVITE for C{call}: ask the handler, and answer if it agrees."""
        verdict = self.handler.incoming_call(FakeIncomingCall(call))
        if verdict is None:
            self.live.append(call)
            self.handler.call_answered(call)
        return verdict

    def hang_up(self, call: FakeCall, reason: str = "remote_bye", **kw: Any) -> None:
        call.end(reason, **kw)
        self.live.remove(call)
        self.handler.call_ended(call)


class EngineFactory:
    """An C{engine_factory} for C{makeService} that keeps what it built."""

    def __init__(self) -> None:
        self.engines: list[FakeEngine] = []

    def __call__(self, reactor: Any, config: Any, handler: Any = None) -> FakeEngine:
        engine = FakeEngine(reactor, config, handler=handler)
        self.engines.append(engine)
        return engine


def dtmf(digit: str, duration_ms: float = 120.0, source: str = "rfc4733") -> DTMFEvent:
    return DTMFEvent(digit, duration_ms, source)


def tone(rate: int, ms: int = 20, amplitude: int = 8000, period: int = 16) -> bytes:
    """A square-ish test signal: C{ms} of 16-bit mono PCM at C{rate}."""
    count = rate * ms // 1000
    return b"".join(
        struct.pack("<h", amplitude if (i // (period // 2)) % 2 else -amplitude)
        for i in range(count)
    )
