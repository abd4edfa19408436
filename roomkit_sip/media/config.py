# -*- test-case-name: tests.media.test_config -*-
"""
The media knobs of one call, in one frozen value.

Field names are those of L{roomkit_sip.engine.EngineConfig} (and of roomkit's
SIP backend), so the engine builds one with L{MediaConfig.from_settings}.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

__all__ = ["MediaConfig"]


@dataclass(frozen=True)
class MediaConfig:
    """
    @ivar jitter_capacity: packets the jitter buffer holds at most.
    @ivar jitter_prefetch: packets buffered before the first is played.
    @ivar jitter_max_wait: seconds a packet waits behind a hole at most.
    @ivar skip_audio_gaps: with C{plc} off, skip lost frames instead of
        delivering silence for them.
    @ivar plc: deliver a concealment frame for each lost frame.
    @ivar symmetric_rtp: latch on the source of the first RTP packet: send
        there and drop packets from elsewhere (NAT traversal).
    @ivar rtp_inactivity_timeout: seconds without RTP, once some arrived, before
        the owner is told C{"media_lost"}; 0 disables.
    @ivar rtp_establishment_timeout: seconds for the first RTP packet before
        the owner is told C{"media_not_established"}; 0 disables.
    @ivar outbound_silence_fill: send silence frames between responses.
    @ivar comfort_noise: send RFC 3389 comfort noise between responses (if
        the peer takes the CN payload type).
    @ivar pacer_prebuffer_ms: audio queued before a response starts playing.
    """

    jitter_capacity: int = 32
    jitter_prefetch: int = 0
    jitter_max_wait: float = 0.06
    skip_audio_gaps: bool = True
    plc: bool = True
    symmetric_rtp: bool = False
    rtp_inactivity_timeout: float = 30.0
    rtp_establishment_timeout: float = 60.0
    outbound_silence_fill: bool = False
    comfort_noise: bool = False
    pacer_prebuffer_ms: int = 80

    def __post_init__(self) -> None:
        if self.jitter_capacity < 1 or not 0 <= self.jitter_prefetch <= self.jitter_capacity:
            raise ValueError("need jitter_capacity >= 1 and 0 <= jitter_prefetch <= capacity")
        if self.jitter_max_wait <= 0:
            raise ValueError("jitter_max_wait must be positive")
        if self.rtp_inactivity_timeout < 0 or self.rtp_establishment_timeout < 0:
            raise ValueError("RTP timeouts must not be negative (0 disables)")
        if self.pacer_prebuffer_ms < 0:
            raise ValueError("pacer_prebuffer_ms must not be negative")
        if self.outbound_silence_fill and self.comfort_noise:
            raise ValueError("outbound_silence_fill and comfort_noise exclude each other")

    @classmethod
    def from_settings(cls, settings: Any) -> MediaConfig:
        """
        Take every field of this class that C{settings} (an C{EngineConfig},
        or any object) has as an attribute; the others keep their defaults.
        """
        names = [f.name for f in fields(cls)]
        return cls(**{n: getattr(settings, n) for n in names if hasattr(settings, n)})
