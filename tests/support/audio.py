"""
Audio helpers for tests: tones, G.711, frequency and level measurement.

Audio is 16-bit signed little-endian mono PCM ("pcm16le") in C{bytes}, the
shape L{roomkit_sip.interfaces.ICodec} uses, or a sequence of C{int} samples
where arithmetic is easier.

Levels are in dBFS relative to a full-scale I{square} wave: C{rms_dbfs} of a
sine whose peak is full scale is -3.01 dBFS.

The G.711 code is written from ITU-T G.711's segment tables (mu-law on 14-bit
samples with its bias of 33, A-law on 13-bit samples), so a test does not
depend on C{audioop}, which Python 3.13 dropped from the standard library; it
gives the same bytes as C{audioop} for every 16-bit sample.
"""

from __future__ import annotations

import cmath
import functools
import math
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

FULL_SCALE = 32768.0

# --- PCM -------------------------------------------------------------------


def to_samples(pcm16le: bytes) -> array:
    """
    Decode pcm16le into an C{array('h')} of samples.
    """
    if len(pcm16le) % 2:
        raise ValueError(f"pcm16le has an odd length ({len(pcm16le)} bytes)")
    out = array("h")
    out.frombytes(pcm16le)
    if sys.byteorder == "big":
        out.byteswap()
    return out


def to_pcm(samples: Sequence[int]) -> bytes:
    """
    Encode samples (clipped to 16 bits) as pcm16le.
    """
    clipped = array("h", (max(-32768, min(32767, int(s))) for s in samples))
    if sys.byteorder == "big":
        clipped.byteswap()
    return clipped.tobytes()


def tone(
    frequency: float,
    seconds: float,
    *,
    rate: int = 8000,
    peak_dbfs: float = -6.0,
    phase: float = 0.0,
) -> bytes:
    """
    A pure sine as pcm16le.

    @param peak_dbfs: the peak amplitude relative to full scale; the RMS level
        of the result is about C{peak_dbfs - 3.01}.
    @param phase: start phase in radians, so consecutive calls can continue a
        waveform without a click.
    """
    count = round(seconds * rate)
    amplitude = (FULL_SCALE - 1) * 10 ** (peak_dbfs / 20)
    step = 2 * math.pi * frequency / rate
    return to_pcm([round(amplitude * math.sin(phase + step * n)) for n in range(count)])


def silence(seconds: float, *, rate: int = 8000) -> bytes:
    """
    Digital silence as pcm16le.
    """
    return b"\x00\x00" * round(seconds * rate)


def split_frames(pcm16le: bytes, *, rate: int = 8000, frame_ms: int = 20) -> list[bytes]:
    """
    Cut pcm16le into frames of C{frame_ms}; a short last frame is dropped.
    """
    size = rate * frame_ms // 1000 * 2
    return [pcm16le[i : i + size] for i in range(0, len(pcm16le) - size + 1, size)]


# --- G.711 -----------------------------------------------------------------

_ULAW_BIAS = 0x84
_ULAW_CLIP_14 = 8159


def _ulaw_from_linear(sample: int) -> int:
    value = sample >> 2  # mu-law works on 14-bit samples
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, _ULAW_CLIP_14) + (_ULAW_BIAS >> 2)
    segment = max(value.bit_length() - 6, 0)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def _linear_from_ulaw(code: int) -> int:
    code = ~code & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = ((((code & 0x0F) << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return -magnitude if code & 0x80 else magnitude


def _alaw_from_linear(sample: int) -> int:
    value = sample >> 3  # A-law works on 13-bit samples
    if value >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        value = -value - 1
    segment = max(value.bit_length() - 5, 0)
    if segment >= 8:
        return 0x7F ^ mask
    shift = 1 if segment < 2 else segment
    return ((segment << 4) | ((value >> shift) & 0x0F)) ^ mask


def _linear_from_alaw(code: int) -> int:
    code ^= 0x55
    segment = (code & 0x70) >> 4
    value = ((code & 0x0F) << 4) + 8
    if segment >= 1:
        value = (value + 0x100) << (segment - 1)
    return value if code & 0x80 else -value


_ULAW_TO_LINEAR = array("h", (_linear_from_ulaw(c) for c in range(256)))
_ALAW_TO_LINEAR = array("h", (_linear_from_alaw(c) for c in range(256)))


@functools.cache
def _encode_table(law: str) -> bytes:
    """
    The code of every 16-bit sample, indexed by its unsigned value (64 KiB).
    """
    encode = _ulaw_from_linear if law == "ulaw" else _alaw_from_linear
    return bytes(encode(s - 65536 if s > 32767 else s) for s in range(65536))


def ulaw_encode(pcm16le: bytes) -> bytes:
    """
    Encode pcm16le as G.711 mu-law (one byte per sample).
    """
    table = _encode_table("ulaw")
    return bytes(table[s & 0xFFFF] for s in to_samples(pcm16le))


def ulaw_decode(data: bytes) -> bytes:
    """
    Decode G.711 mu-law bytes to pcm16le.
    """
    table = _ULAW_TO_LINEAR
    return to_pcm([table[c] for c in data])


def alaw_encode(pcm16le: bytes) -> bytes:
    """
    Encode pcm16le as G.711 A-law (one byte per sample).
    """
    table = _encode_table("alaw")
    return bytes(table[s & 0xFFFF] for s in to_samples(pcm16le))


def alaw_decode(data: bytes) -> bytes:
    """
    Decode G.711 A-law bytes to pcm16le.
    """
    table = _ALAW_TO_LINEAR
    return to_pcm([table[c] for c in data])


#: mu-law and A-law code for digital silence (what a muted sender puts on the wire)
ULAW_SILENCE = 0xFF
ALAW_SILENCE = 0xD5


# --- measurement -----------------------------------------------------------


def rms_dbfs(samples: Sequence[int] | bytes) -> float:
    """
    RMS level in dBFS (C{-inf} for digital silence or no samples).
    """
    if isinstance(samples, bytes):
        samples = to_samples(samples)
    if not samples:
        return -math.inf
    mean_square = math.fsum(s * s for s in samples) / len(samples)
    if mean_square == 0:
        return -math.inf
    return 10 * math.log10(mean_square / (FULL_SCALE * FULL_SCALE))


def goertzel_amplitude(samples: Sequence[int] | bytes, rate: int, frequency: float) -> float:
    """
    Amplitude (in sample units) of the component of C{samples} at C{frequency}.

    The Goertzel recurrence evaluates one DFT term; C{frequency} need not fall
    on a bin.  A pure sine of amplitude A over a whole number of periods gives
    about A.
    """
    if isinstance(samples, bytes):
        samples = to_samples(samples)
    count = len(samples)
    if count == 0:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for sample in samples:
        s1, s2 = sample + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * math.sqrt(max(power, 0.0)) / count


def _fft(values: list[complex]) -> list[complex]:
    """
    In-place iterative radix-2 FFT; C{len(values)} must be a power of two.
    """
    n = len(values)
    j = 0
    for i in range(1, n):
        bit = n >> 1
        while j & bit:
            j ^= bit
            bit >>= 1
        j |= bit
        if i < j:
            values[i], values[j] = values[j], values[i]
    size = 2
    while size <= n:
        half = size // 2
        root = cmath.exp(-2j * math.pi / size)
        for start in range(0, n, size):
            w = 1 + 0j
            for k in range(start, start + half):
                t = w * values[k + half]
                values[k + half] = values[k] - t
                values[k] += t
                w *= root
        size *= 2
    return values


def dominant_frequency(samples: Sequence[int] | bytes, rate: int, *, window: int = 4096) -> float:
    """
    Frequency (Hz) of the strongest spectral peak, DC excluded.

    Uses the middle C{window} samples (a power of two; fewer samples are
    zero-padded) under a Hann window, and refines the peak bin by parabolic
    interpolation of the log magnitudes: a clean tone is found within about
    one hertz.
    """
    if isinstance(samples, bytes):
        samples = to_samples(samples)
    if window & (window - 1):
        raise ValueError("window must be a power of two")
    if len(samples) < 16:
        raise ValueError("too few samples to estimate a frequency")
    start = max(0, (len(samples) - window) // 2)
    chunk = samples[start : start + window]
    used = len(chunk)
    hann = [0.5 - 0.5 * math.cos(2 * math.pi * n / (used - 1)) for n in range(used)]
    values = [complex(chunk[n] * hann[n]) for n in range(used)]
    values.extend([0j] * (window - used))
    spectrum = [abs(v) for v in _fft(values)[: window // 2]]
    peak = max(range(2, len(spectrum) - 1), key=spectrum.__getitem__)
    a, b, c = (math.log(max(spectrum[i], 1e-12)) for i in (peak - 1, peak, peak + 1))
    denominator = a - 2 * b + c
    offset = 0.5 * (a - c) / denominator if denominator else 0.0
    return (peak + offset) * rate / window


@dataclass(frozen=True)
class Continuity:
    """
    How whole a stream of frames is.

    @ivar frames: frame slots considered (received or missing).
    @ivar missing: slots with no frame at all (lost or never sent).
    @ivar silent: received frames below the silence threshold.
    @ivar longest_gap: the longest run of consecutive missing-or-silent slots.
    """

    frames: int
    missing: int
    silent: int
    longest_gap: int

    @property
    def bad(self) -> int:
        return self.missing + self.silent


def continuity(frames: Sequence[bytes | None], *, threshold_dbfs: float = -50.0) -> Continuity:
    """
    Count missing (C{None}) and silent pcm16le frames.
    """
    missing = silent = run = longest = 0
    for frame in frames:
        if frame is None:
            missing += 1
        elif rms_dbfs(frame) < threshold_dbfs:
            silent += 1
        else:
            run = 0
            continue
        run += 1
        longest = max(longest, run)
    return Continuity(len(frames), missing, silent, longest)


@dataclass(frozen=True)
class ToneAnalysis:
    """
    What a received stream sounds like, and how that differs from a tone.

    @ivar frequency: the dominant frequency (Hz).
    @ivar level_dbfs: RMS level of the whole signal.
    @ivar purity: the share of the signal's power at C{frequency} (1.0: a pure
        tone; G.711 quantisation leaves about 0.999).
    @ivar seconds: duration analysed.
    """

    frequency: float
    level_dbfs: float
    purity: float
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def analyse_tone(
    pcm16le: bytes,
    *,
    rate: int = 8000,
    expected_hz: float,
    tolerance_hz: float = 5.0,
    min_dbfs: float = -40.0,
    max_dbfs: float = 0.0,
    min_purity: float = 0.9,
    min_seconds: float = 0.0,
) -> ToneAnalysis:
    """
    Measure C{pcm16le} and list every way it misses the expected tone.

    The result's C{problems} is empty when the signal is a tone of
    C{expected_hz} (within C{tolerance_hz}), at a level between C{min_dbfs}
    and C{max_dbfs}, with at least C{min_purity} of its power in the tone and
    at least C{min_seconds} long.
    """
    samples = to_samples(pcm16le)
    seconds = len(samples) / rate
    if len(samples) < 64:
        return ToneAnalysis(0.0, -math.inf, 0.0, seconds, [f"only {len(samples)} samples"])
    frequency = dominant_frequency(samples, rate)
    level = rms_dbfs(samples)
    # Goertzel over whole periods of the measured frequency keeps leakage out.
    periods = int(len(samples) * frequency / rate)
    span = round(periods * rate / frequency) if periods else len(samples)
    tone_amp = goertzel_amplitude(samples[:span], rate, frequency)
    mean_square = math.fsum(s * s for s in samples[:span]) / span
    purity = (tone_amp * tone_amp / 2) / mean_square if mean_square else 0.0
    problems = []
    if abs(frequency - expected_hz) > tolerance_hz:
        problems.append(f"dominant frequency {frequency:.1f} Hz, expected {expected_hz} Hz")
    if not min_dbfs <= level <= max_dbfs:
        problems.append(f"level {level:.1f} dBFS outside [{min_dbfs}, {max_dbfs}]")
    if purity < min_purity:
        problems.append(f"only {purity:.1%} of the power is in the tone")
    if seconds < min_seconds:
        problems.append(f"{seconds:.2f} s of audio, expected at least {min_seconds} s")
    return ToneAnalysis(frequency, level, purity, seconds, problems)
