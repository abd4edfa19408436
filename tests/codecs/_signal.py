"""Signal helpers for the codec tests: tones, SNR, delay and data-file checks."""

import hashlib
import math
import pathlib
import sys
from array import array

DATA = pathlib.Path(__file__).resolve().parent.parent / "data"


def tone(frequency: float, rate: int, seconds: float, amplitude: int) -> array:
    """A sine as int16 samples."""
    n = int(rate * seconds)
    step = 2 * math.pi * frequency / rate
    return array("h", (round(amplitude * math.sin(step * i)) for i in range(n)))


def to_pcm(samples: array) -> bytes:
    """int16 samples as 16-bit little-endian PCM."""
    out = array("h", samples)
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()


def from_pcm(pcm: bytes) -> array:
    """16-bit little-endian PCM as int16 samples."""
    out = array("h")
    out.frombytes(pcm)
    if sys.byteorder != "little":
        out.byteswap()
    return out


def snr_db(reference: array, decoded: array, delay: int = 0, skip: int = 0) -> float:
    """
    Signal-to-noise ratio of C{decoded} against C{reference}, the decoded
    signal lagging by C{delay} samples; the first C{skip} samples (the
    codec's adaptation) are left out.
    """
    signal = noise = 0.0
    for i in range(skip, min(len(reference), len(decoded) - delay)):
        s = reference[i]
        e = s - decoded[i + delay]
        signal += s * s
        noise += e * e
    return math.inf if noise == 0 else 10 * math.log10(signal / noise)


def best_delay(reference: array, decoded: array, max_delay: int) -> int:
    """The lag in samples at which C{decoded} correlates best with C{reference}."""
    n = len(reference) - max_delay

    def correlation(lag: int) -> float:
        return sum(reference[i] * decoded[i + lag] for i in range(n))

    return max(range(max_delay), key=correlation)


def sha256sums_mismatches(folder: pathlib.Path) -> list[str]:
    """Names of the files whose SHA-256 differs from C{folder/SHA256SUMS}; [] if all match."""
    bad = []
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        if not line.strip():
            continue
        digest, name = line.split(maxsplit=1)
        name = name.lstrip("*")
        if hashlib.sha256((folder / name).read_bytes()).hexdigest() != digest:
            bad.append(name)
    return bad
