"""
L{roomkit_sip._aio.resample.StreamResampler}: chunks of any size at any
rate become PCM at the codec rate, the same whether the stream came whole
or cut up.
"""

from __future__ import annotations

import math
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip._aio.resample import StreamResampler


def tone(rate: int, ms: int, hz: float = 300.0) -> bytes:
    count = rate * ms // 1000
    return b"".join(
        struct.pack("<h", round(9000 * math.sin(2 * math.pi * hz * i / rate)))
        for i in range(count)
    )


def dominant_hz(pcm: bytes, rate: int) -> float:
    """Frequency from zero crossings (a pure tone has two per period)."""
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    crossings = sum(1 for a, b in zip(samples, samples[1:]) if (a < 0) != (b < 0))
    return crossings / 2 / (len(samples) / rate)


class ResamplerTests(SynchronousTestCase):
    def test_same_rate_untouched(self) -> None:
        """
        At the target rate the bytes pass through unchanged.
        """
        pcm = tone(8000, 100)
        self.assertEqual(StreamResampler(8000).convert(pcm, 8000), pcm)

    def test_rates(self) -> None:
        """
        A second of audio stays a second, and a tone keeps its pitch, for
        the rates TTS engines produce.
        """
        for source, target in ((16000, 8000), (24000, 8000), (22050, 16000), (8000, 16000)):
            out = StreamResampler(target).convert(tone(source, 1000), source)
            seconds = len(out) / 2 / target
            self.assertTrue(abs(seconds - 1.0) < 0.002, (source, target, seconds))
            pitch = dominant_hz(out, target)
            self.assertTrue(abs(pitch - 300.0) < 3.0, (source, target, pitch))

    @settings(max_examples=60, deadline=None)
    @given(cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12))
    def test_chunking_does_not_matter(self, cuts: list[int]) -> None:
        """
        Cutting a stream anywhere, even inside a sample, gives the same
        output as converting it whole.
        """
        pcm = tone(24000, 150)
        whole = StreamResampler(8000).convert(pcm, 24000)
        resampler = StreamResampler(8000)
        pieces = []
        last = 0
        for cut in sorted(c % (len(pcm) + 1) for c in cuts):
            pieces.append(resampler.convert(pcm[last:cut], 24000))
            last = cut
        pieces.append(resampler.convert(pcm[last:], 24000))
        self.assertEqual(b"".join(pieces), whole)

    def test_stereo_mixed_down(self) -> None:
        """
        Interleaved stereo becomes mono, averaging the channels.
        """
        left, right = 1000, 3000
        stereo = struct.pack("<hh", left, right) * 80
        mono = StreamResampler(8000).convert(stereo, 8000, channels=2)
        self.assertEqual(mono, struct.pack("<h", 2000) * 80)

    def test_refuses_what_cannot_play(self) -> None:
        """
        A non-positive rate or more than two channels is refused.
        """
        resampler = StreamResampler(8000)
        self.assertRaises(ValueError, resampler.convert, b"\x00\x00", 0)
        self.assertRaises(ValueError, resampler.convert, b"\x00\x00", 8000, 3)

    def test_retarget(self) -> None:
        """
        After the call changes codec, output follows the new rate.
        """
        resampler = StreamResampler(8000)
        first = resampler.convert(tone(16000, 100), 16000)
        resampler.retarget(16000)
        second = resampler.convert(tone(16000, 100), 16000)
        self.assertEqual((len(first), len(second)), (1600, 3200))
