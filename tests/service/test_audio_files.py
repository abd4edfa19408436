"""Prompt WAV files: any layout in, 16-bit mono at each call's rate out."""

from __future__ import annotations

import math
import struct
import wave
from array import array
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.service.audio_files import (
    AudioFileError,
    Resampler,
    load_prompt,
    to_mono16,
)


def sine(rate: int, seconds: float, freq: float = 440.0, amplitude: float = 12000) -> list[int]:
    return [
        int(amplitude * math.sin(2 * math.pi * freq * i / rate))
        for i in range(int(rate * seconds))
    ]


def pcm16(samples: list[int]) -> bytes:
    return array("h", samples).tobytes()


def write_wav(path: Path, data: bytes, rate: int, width: int = 2, channels: int = 1) -> str:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)
    return str(path)


def assert_close(
    case: SynchronousTestCase, value: float, expected: float, tolerance: float
) -> None:
    if abs(value - expected) > tolerance:
        case.fail(f"{value} is not within {tolerance} of {expected}")


def zero_crossing_frequency(pcm: bytes, rate: int) -> float:
    samples = array("h", pcm)
    crossings = sum(1 for a, b in zip(samples, samples[1:]) if (a < 0) != (b < 0))
    return crossings / 2 / (len(samples) / rate)


class ConversionTests(SynchronousTestCase):
    def test_eight_bit_is_unsigned(self) -> None:
        """WAV stores 8-bit samples unsigned: 128 is silence."""
        self.assertEqual(
            array("h", to_mono16(bytes([128, 255, 0]), 1, 1)).tolist(), [0, 32512, -32768]
        )

    def test_wider_samples_keep_their_top_16_bits(self) -> None:
        self.assertEqual(to_mono16(b"\x00\x34\x12", 3, 1), struct.pack("<h", 0x1234))
        self.assertEqual(to_mono16(b"\x00\x00\x34\x12", 4, 1), struct.pack("<h", 0x1234))

    def test_channels_are_averaged(self) -> None:
        stereo = pcm16([1000, 3000, -2000, 2000])
        self.assertEqual(array("h", to_mono16(stereo, 2, 2)).tolist(), [2000, 0])
        three = pcm16([300, 600, 900, -300, -600, -900])
        self.assertEqual(array("h", to_mono16(three, 2, 3)).tolist(), [600, -600])


class ResamplerTests(SynchronousTestCase):
    def test_same_rate_is_a_copy(self) -> None:
        data = pcm16([1, 2, 3])
        self.assertEqual(Resampler(8000, 8000).convert(data), data)

    def test_length_follows_the_ratio(self) -> None:
        """Up to one input sample's worth is held back: it needs its successor."""
        out = Resampler(8000, 16000).convert(pcm16(sine(8000, 1.0)))
        assert_close(self, len(out) / 2, 16000, 2)

    def test_rejects_odd_bytes_and_bad_rates(self) -> None:
        self.assertRaises(ValueError, Resampler(8000, 16000).convert, b"\x00")
        self.assertRaises(ValueError, Resampler, 0, 8000)

    @settings(max_examples=50, deadline=None)
    @given(
        cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
        rates=st.sampled_from([(44100, 8000), (8000, 16000), (22050, 16000), (48000, 44100)]),
    )
    def test_blocks_give_the_same_samples_as_the_whole(self, cuts, rates) -> None:
        """The state carried between blocks makes block boundaries invisible."""
        source, target = rates
        data = pcm16(sine(source, 0.05, freq=700))
        whole = Resampler(source, target).convert(data)
        resampler = Resampler(source, target)
        pieces, start = [], 0
        for cut in sorted({2 * c for c in cuts if 0 < 2 * c < len(data)}):
            pieces.append(resampler.convert(data[start:cut]))
            start = cut
        pieces.append(resampler.convert(data[start:]))
        self.assertEqual(b"".join(pieces), whole)


class LoadPromptTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = Path(self.mktemp())
        self.dir.mkdir()

    def test_stereo_cd_audio_to_telephone_rates(self) -> None:
        """A 44.1 kHz stereo file becomes mono at 8 and 16 kHz, tone intact."""
        left = sine(44100, 1.0)
        interleaved = [s for pair in zip(left, left) for s in pair]
        path = write_wav(self.dir / "cd.wav", pcm16(interleaved), 44100, channels=2)
        prompt = load_prompt(path, [16000, 8000, 16000])
        self.assertEqual(prompt.rates, (8000, 16000))
        self.assertEqual(prompt.source_rate, 44100)
        self.assertAlmostEqual(prompt.duration, 1.0)
        for rate in (8000, 16000):
            pcm = prompt.pcm(rate)
            assert_close(self, len(pcm) / 2 / rate, 1.0, 0.001)
            assert_close(self, zero_crossing_frequency(pcm, rate), 440, 3)

    def test_eight_bit_file(self) -> None:
        data = bytes(128 + int(100 * math.sin(2 * math.pi * 400 * i / 8000)) for i in range(8000))
        prompt = load_prompt(write_wav(self.dir / "u8.wav", data, 8000, width=1), [8000])
        pcm = prompt.pcm(8000)
        self.assertEqual(len(pcm), 16000)
        assert_close(self, zero_crossing_frequency(pcm, 8000), 400, 3)

    def test_twenty_four_bit_file_in_several_blocks(self) -> None:
        samples = sine(16000, 2.5, freq=300)
        data = b"".join(struct.pack("<i", s << 8)[:3] for s in samples)
        prompt = load_prompt(write_wav(self.dir / "s24.wav", data, 16000, width=3), [8000])
        assert_close(self, len(prompt.pcm(8000)) / 2 / 8000, 2.5, 0.001)
        assert_close(self, zero_crossing_frequency(prompt.pcm(8000), 8000), 300, 3)

    def test_rate_not_prepared_is_converted_on_demand(self) -> None:
        prompt = load_prompt(write_wav(self.dir / "a.wav", pcm16(sine(8000, 0.5)), 8000), [8000])
        pcm = prompt.pcm(48000)
        assert_close(self, len(pcm) / 2, 24000, 6)
        self.assertEqual(prompt.rates, (8000, 48000))
        self.assertIs(prompt.pcm(48000), pcm)

    def test_errors_name_the_file(self) -> None:
        missing = str(self.dir / "missing.wav")
        text = self.dir / "notes.wav"
        text.write_text("hello, not audio")
        empty = write_wav(self.dir / "empty.wav", b"", 8000)
        long = write_wav(self.dir / "long.wav", pcm16([0] * 8000 * 3), 8000)
        cases = [
            (missing, "cannot read"),
            (str(text), "is not a PCM WAV file"),
            (empty, "holds no audio"),
        ]
        for path, words in cases:
            e = self.assertRaises(AudioFileError, load_prompt, path, [8000])
            self.assertIn(path, str(e))
            self.assertIn(words, str(e))
            self.assertNotIn("\n", str(e))
        e = self.assertRaises(AudioFileError, load_prompt, long, [8000], max_seconds=2)
        self.assertIn("lasts 3 s", str(e))

    def test_float_wav_refused(self) -> None:
        """IEEE float WAVs (format 3) are not integer PCM: a clear refusal."""
        body = struct.pack("<f", 0.5) * 100
        fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)
        riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
        riff += b"data" + struct.pack("<I", len(body)) + body
        path = self.dir / "float.wav"
        path.write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
        e = self.assertRaises(AudioFileError, load_prompt, str(path), [8000])
        self.assertIn("float.wav", str(e))

    def test_no_rate_asked(self) -> None:
        path = write_wav(self.dir / "a.wav", pcm16([0] * 80), 8000)
        self.assertRaises(ValueError, load_prompt, path, [])
