"""
Every knob of the call engine in one frozen value, validated once.

Defaults follow roomkit's own SIP backend wherever it has the same knob, so the
asyncio adapter can pass its keywords straight through.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields, replace
from typing import Any

from roomkit_sip._version import __version__
from roomkit_sip.codecs.registry import resolve_codecs
from roomkit_sip.interfaces import ICodec

__all__ = ["EngineConfig"]

_TRANSPORTS = frozenset({"udp", "tcp"})


def _default_codecs() -> tuple[ICodec, ...]:
    return tuple(resolve_codecs())


@dataclass(frozen=True)
class EngineConfig:
    """
    Configuration of a L{roomkit_sip.engine.SIPEngine}; see C{docs/engine.md}.

    Build it with keywords, then call L{validate} (the engine does) to get a
    C{ValueError} naming the first bad field instead of a failure mid-call.
    """

    sip_host: str = "0.0.0.0"
    sip_port: int = 5060
    transports: tuple[str, ...] = ("udp",)
    advertised_ip: str | None = None
    rtp_ip: str = "0.0.0.0"
    rtp_port_start: int = 10000
    rtp_port_end: int = 20000
    port_quarantine: float = 5.0
    codecs: tuple[Any, ...] = field(default_factory=_default_codecs)
    dtmf_payload_type: int = 101
    user_agent: str = f"roomkit-sip/{__version__}"
    server_name: str = "-"
    jitter_capacity: int = 32
    jitter_prefetch: int = 0
    skip_audio_gaps: bool = True
    plc: bool = True
    symmetric_rtp: bool = False
    rtp_inactivity_timeout: float = 30.0
    rtp_establishment_timeout: float = 60.0
    max_sessions: int = 0
    retry_after: int = 5
    outbound_silence_fill: bool = False
    comfort_noise: bool = False
    pacer_prebuffer_ms: int = 80
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    session_expires: int = 1800
    min_se: int = 90
    auth: Any = None
    ring_timeout: float = 90.0
    tcp_idle_timeout: float = 600.0

    def with_changes(self, **changes: Any) -> EngineConfig:
        """A copy with C{changes} applied (then validate it)."""
        return replace(self, **changes)

    def validate(self) -> EngineConfig:
        """
        Check every field; return C{self} so calls chain.

        @raise ValueError: naming the first bad field and why.
        """
        _check_ip("sip_host", self.sip_host)
        _check_port("sip_port", self.sip_port, allow_zero=True)
        if not self.transports or not set(self.transports) <= _TRANSPORTS:
            raise ValueError(f"transports: expected some of udp, tcp; got {self.transports!r}")
        if self.advertised_ip is not None:
            _check_ip("advertised_ip", self.advertised_ip, routable=True)
        _check_ip("rtp_ip", self.rtp_ip)
        _check_port("rtp_port_start", self.rtp_port_start)
        _check_port("rtp_port_end", self.rtp_port_end)
        if self.rtp_port_end - self.rtp_port_start < 2:
            raise ValueError(
                f"rtp_port_start/rtp_port_end: {self.rtp_port_start}-{self.rtp_port_end} "
                "holds no even RTP port with its RTCP port"
            )
        if not self.codecs:
            raise ValueError("codecs: at least one codec is needed")
        for codec in self.codecs:
            if not ICodec.providedBy(codec):
                raise ValueError(f"codecs: {codec!r} does not provide ICodec")
        if not 96 <= self.dtmf_payload_type <= 127:
            raise ValueError(
                f"dtmf_payload_type: {self.dtmf_payload_type} is not a dynamic payload "
                "type (96-127)"
            )
        for name in ("jitter_capacity", "pacer_prebuffer_ms", "retry_after"):
            _check_positive(name, getattr(self, name))
        for name in ("jitter_prefetch", "max_sessions"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative")
        if self.jitter_prefetch >= self.jitter_capacity:
            raise ValueError("jitter_prefetch: must be smaller than jitter_capacity")
        for name in (
            "port_quarantine",
            "rtp_inactivity_timeout",
            "rtp_establishment_timeout",
            "ring_timeout",
            "tcp_idle_timeout",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative")
        if not 0 < self.t1 <= self.t2:
            raise ValueError("t1/t2: need 0 < t1 <= t2 (RFC 3261 §17.1.1.1)")
        if self.t4 <= 0:
            raise ValueError("t4: must be positive")
        if self.min_se < 90:
            # RFC 4028 §4: Min-SE is never below 90 seconds.
            raise ValueError("min_se: RFC 4028 forbids values below 90 seconds")
        if self.session_expires < self.min_se:
            raise ValueError("session_expires: must be at least min_se")
        return self

    def timer_settings(self) -> Any:
        """The RFC 3261 timer values as the transaction layer takes them."""
        from roomkit_sip.sip.timers import TimerSettings

        return TimerSettings(t1=self.t1, t2=self.t2, t4=self.t4)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The names of every field, for adapters mapping their own keywords."""
        return tuple(f.name for f in fields(cls))


def _check_ip(name: str, value: str, routable: bool = False) -> None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not an IP address") from None
    if routable and (address.is_unspecified or address.is_multicast):
        raise ValueError(f"{name}: {value} cannot be advertised to a peer")


def _check_port(name: str, value: int, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if type(value) is not int or not low <= value <= 65535:
        raise ValueError(f"{name}: {value!r} is not a port number")


def _check_positive(name: str, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{name}: must be positive")
