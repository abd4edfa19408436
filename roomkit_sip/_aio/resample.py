# -*- test-case-name: tests.aio.test_backend_resample -*-
"""
Bring application audio to the call's codec rate.

roomkit's backend plays every chunk as if it were at the codec rate, so a
24 kHz TTS on a G.711 call plays three times too slowly unless the
application configured a pipeline contract (contract §4.1).  This backend
converts instead, with C{audioop.ratecv}: linear interpolation, cheap
enough for the 50 frames a second of every call, and stateful, so a stream
cut into arbitrary chunks sounds the same as one played whole.  When the
rates already match (the contract case) the bytes pass through untouched.
"""

from __future__ import annotations

from roomkit_sip.codecs._audioop import audioop

__all__ = ["StreamResampler"]

_WIDTH = 2  # 16-bit signed little-endian, the only format a VoiceChannel sends


class StreamResampler:
    """
    Converts one outbound stream of PCM chunks to a fixed rate.

    Chunks may split samples anywhere: a trailing partial sample is kept for
    the next chunk.  Stereo chunks are mixed down to mono.  A change of input
    rate mid-stream starts a fresh filter state, since the old one describes
    another rate.
    """

    def __init__(self, to_rate: int) -> None:
        """
        @param to_rate: the codec's PCM rate, in Hz.
        """
        self.to_rate = to_rate
        self._from_rate: int | None = None
        self._state: object = None
        self._carry = b""

    def retarget(self, to_rate: int) -> None:
        """Convert to C{to_rate} from now on (the call changed codec)."""
        if to_rate != self.to_rate:
            self.to_rate = to_rate
            self._state = None

    def convert(self, data: bytes, from_rate: int, channels: int = 1) -> bytes:
        """
        @param data: PCM16LE at C{from_rate} Hz.
        @param channels: 1, or 2 for interleaved stereo (mixed down).
        @return: PCM16LE mono at L{to_rate}, possibly empty.
        @raise ValueError: for a rate or channel count that cannot be played.
        """
        if from_rate <= 0:
            raise ValueError(f"sample rate must be positive, got {from_rate}")
        if channels not in (1, 2):
            raise ValueError(f"cannot play {channels}-channel audio")
        frame = _WIDTH * channels
        if self._carry:
            data = self._carry + data
        cut = len(data) - len(data) % frame
        self._carry = data[cut:]
        data = data[:cut]
        if channels == 2:
            data = audioop.tomono(data, _WIDTH, 0.5, 0.5)
        if from_rate != self._from_rate:
            self._from_rate = from_rate
            self._state = None
        if from_rate == self.to_rate or not data:
            return bytes(data)
        converted, self._state = audioop.ratecv(
            data, _WIDTH, 1, from_rate, self.to_rate, self._state
        )
        return converted
