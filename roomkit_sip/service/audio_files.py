# -*- test-case-name: tests.service.test_audio_files -*-
"""
WAV prompts, converted once at start to what calls need.

An operator hands over whatever WAV they have (44.1 kHz stereo, 8-bit mono,
24-bit, ...).  A call wants 16-bit mono PCM at its codec's sample rate, and
converting on the reactor thread while the call waits would delay its media;
so the file is read in blocks at start-up and each block is converted to
every sample rate the configured codecs use.  Reading in blocks is why the
resampler is stateful: C{audioop.ratecv} carries its filter state from one
block to the next, so block boundaries leave no clicks or drift.
"""

from __future__ import annotations

import wave
from array import array
from dataclasses import dataclass, field

from roomkit_sip.codecs._audioop import audioop

#: Longest prompt accepted: a prompt lives in memory once per sample rate.
MAX_PROMPT_SECONDS = 600.0

#: How much of the file is converted at a time.
_BLOCK_SECONDS = 1.0


class AudioFileError(ValueError):
    """A prompt file that cannot be used; the message names the file."""


class Resampler:
    """
    16-bit mono PCM from one rate to another, in pieces of any size.

    Feeding a signal in blocks gives exactly the samples of feeding it whole:
    C{ratecv} emits each output sample as soon as its inputs are known and
    keeps the rest of its filter in the state carried between calls.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {from_rate} and {to_rate}")
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._state: tuple | None = None

    def convert(self, pcm: bytes) -> bytes:
        """Convert the next piece; odd trailing bytes are a caller error."""
        if self.from_rate == self.to_rate:
            return bytes(pcm)
        if len(pcm) % 2:
            raise ValueError("16-bit PCM has an even number of bytes")
        out, self._state = audioop.ratecv(pcm, 2, 1, self.from_rate, self.to_rate, self._state)
        return out


def to_mono16(data: bytes, width: int, channels: int) -> bytes:
    """
    Interleaved integer PCM of C{width} bytes per sample (WAV conventions:
    8-bit unsigned, wider signed little-endian) to 16-bit mono.
    """
    if width == 1:
        data = audioop.bias(data, 1, -128)
    if width != 2:
        data = audioop.lin2lin(data, width, 2)
    if channels == 1:
        return data
    if channels == 2:
        return audioop.tomono(data, 2, 0.5, 0.5)
    samples = array("h", data)
    mixed = b""
    for index in range(channels):
        part = audioop.mul(samples[index::channels].tobytes(), 2, 1.0 / channels)
        mixed = part if not mixed else audioop.add(mixed, part, 2)
    return mixed


@dataclass
class Prompt:
    """
    A prompt as calls play it: 16-bit mono PCM per sample rate.

    @ivar path: where it was read from, for log lines.
    @ivar source_rate: the file's own sample rate.
    @ivar duration: length in seconds.
    """

    path: str
    source_rate: int
    duration: float
    _by_rate: dict[int, bytes] = field(default_factory=dict, repr=False)

    @property
    def rates(self) -> tuple[int, ...]:
        """The sample rates already converted."""
        return tuple(sorted(self._by_rate))

    def pcm(self, rate: int) -> bytes:
        """
        The prompt at C{rate}.  Rates not prepared at load time (a codec
        added since) are converted from the nearest prepared copy and kept.
        """
        found = self._by_rate.get(rate)
        if found is None:
            source = max(self._by_rate) if self._by_rate else None
            if source is None:
                raise ValueError("prompt has no audio")
            found = Resampler(source, rate).convert(self._by_rate[source])
            self._by_rate[rate] = found
        return found


def load_prompt(
    path: str, rates: tuple[int, ...] | list[int], max_seconds: float = MAX_PROMPT_SECONDS
) -> Prompt:
    """
    Read a PCM WAV file and convert it to 16-bit mono at each of C{rates}.

    @raise AudioFileError: unreadable, not PCM WAV, empty, or too long; the
        message is one line naming the file.
    """
    wanted = sorted(set(rates))
    if not wanted:
        raise ValueError("give at least one sample rate")
    try:
        reader = wave.open(path, "rb")
    except OSError as e:
        raise AudioFileError(f"cannot read {path}: {e.strerror or e}") from None
    except (wave.Error, EOFError) as e:
        raise AudioFileError(f"{path} is not a PCM WAV file ({e or 'truncated'})") from None
    with reader:
        channels = reader.getnchannels()
        width = reader.getsampwidth()
        rate = reader.getframerate()
        frames = reader.getnframes()
        if width not in (1, 2, 3, 4) or channels < 1 or rate <= 0:
            raise AudioFileError(
                f"{path}: unsupported WAV ({channels} channels, {8 * width}-bit, {rate} Hz)"
            )
        if frames == 0:
            raise AudioFileError(f"{path} holds no audio")
        duration = frames / rate
        if duration > max_seconds:
            raise AudioFileError(
                f"{path} lasts {duration:.0f} s; prompts are limited to {max_seconds:.0f} s"
            )
        resamplers = {r: Resampler(rate, r) for r in wanted}
        parts: dict[int, list[bytes]] = {r: [] for r in wanted}
        block = max(1, int(rate * _BLOCK_SECONDS))
        while True:
            try:
                data = reader.readframes(block)
            except (wave.Error, EOFError, OSError) as e:
                raise AudioFileError(f"{path}: read failed ({e})") from None
            whole = len(data) - len(data) % (width * channels)
            if not whole:
                break
            mono = to_mono16(data[:whole], width, channels)
            for r in wanted:
                parts[r].append(resamplers[r].convert(mono))
    by_rate = {r: b"".join(parts[r]) for r in wanted}
    return Prompt(path=path, source_rate=rate, duration=duration, _by_rate=by_rate)
