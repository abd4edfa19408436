# -*- test-case-name: tests.codecs.test_comfort_noise -*-
"""
RFC 3389 comfort noise (CN): the payload a sender puts in the gaps between
talk spurts instead of audio, and what a receiver makes of it.

A CN payload is one noise-level byte, the level in -dBov (0 is the overload
point, 127 the quietest), optionally followed by reflection coefficients of an
all-pole spectral model (§3.2).  We send the level only, which §3 allows; a
receiver may ignore any coefficients and play white noise, which is what
L{synthesize} does.  RFC 3551 assigns CN the static payload type 13 on an
8000 Hz clock, which matches every built-in codec's RTP clock (G.722's too).
"""

import math
import random
import sys
from array import array
from dataclasses import dataclass

#: RFC 3551 static payload type of CN at an 8000 Hz RTP clock.
PAYLOAD_TYPE = 13
#: The quietest level a CN payload can express, in -dBov.
QUIETEST = 127

#: 0 dBov for 16-bit PCM: a full-scale square wave, whose RMS is its amplitude.
_OVERLOAD = 32768.0


@dataclass(frozen=True)
class ComfortNoise:
    """
    A parsed CN payload.

    @ivar level: noise level in -dBov, 0 (loudest) to 127 (quietest).
    @ivar coefficients: the quantised reflection coefficients as sent (§3.2),
        empty when the sender gave only a level.
    """

    level: int
    coefficients: bytes = b""


def build_payload(level: int, coefficients: bytes = b"") -> bytes:
    """
    @param level: noise level in -dBov, 0 to 127.
    @param coefficients: already quantised reflection coefficients, if any.
    @raise ValueError: C{level} is out of range.
    """
    if not 0 <= level <= QUIETEST:
        raise ValueError(f"CN level must be 0..127 (-dBov), got {level}")
    return bytes((level,)) + bytes(coefficients)


def parse_payload(payload: bytes) -> ComfortNoise:
    """
    Read a CN payload from the network.  The reserved top bit of the level
    byte is ignored rather than rejected, as §3.1 reserves it for the sender.

    @raise ValueError: the payload is empty (it must carry at least the level).
    """
    if not payload:
        raise ValueError("empty comfort noise payload: RFC 3389 §3 requires a level byte")
    return ComfortNoise(payload[0] & 0x7F, bytes(payload[1:]))


def level_of(pcm: bytes) -> int:
    """
    The CN level describing C{pcm} (16-bit little-endian): its RMS relative to
    full scale, in -dBov, rounded and clamped to 0..127.  Digital silence is
    127.  A trailing half sample is ignored.
    """
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder != "little":
        samples.byteswap()
    energy = sum(s * s for s in samples)
    if energy == 0:
        return QUIETEST
    rms = math.sqrt(energy / len(samples))
    return max(0, min(QUIETEST, round(-20 * math.log10(rms / _OVERLOAD))))


def synthesize(level: int, samples: int, rng: random.Random | None = None) -> bytes:
    """
    White noise at C{level} -dBov for a receiver to play while CN is active:
    C{samples} 16-bit little-endian samples, uniformly distributed (RMS of
    uniform noise on [-a, a] is a/√3).  Levels louder than about -5 dBov
    would need samples beyond full scale and are clipped to it.

    @param rng: the random source, so that tests can be deterministic.
    """
    if not 0 <= level <= QUIETEST:
        raise ValueError(f"CN level must be 0..127 (-dBov), got {level}")
    rng = rng or random.Random()
    peak = min(32767.0, _OVERLOAD * 10 ** (-level / 20) * math.sqrt(3))
    noise = array("h", (round(rng.uniform(-peak, peak)) for _ in range(samples)))
    if sys.byteorder != "little":
        noise.byteswap()
    return noise.tobytes()
