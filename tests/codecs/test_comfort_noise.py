"""RFC 3389 comfort-noise payloads, levels and noise synthesis."""

import math
import random
import struct

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.codecs import comfort_noise
from roomkit_sip.codecs.comfort_noise import (
    PAYLOAD_TYPE,
    ComfortNoise,
    build_payload,
    level_of,
    parse_payload,
    synthesize,
)


def _sine(amplitude: float, samples: int = 8000) -> bytes:
    return struct.pack(
        f"<{samples}h",
        *(round(amplitude * math.sin(2 * math.pi * 1000 * i / 8000)) for i in range(samples)),
    )


class PayloadTests(SynchronousTestCase):
    def test_static_payload_type(self) -> None:
        """RFC 3551 assigns CN payload type 13."""
        self.assertEqual(PAYLOAD_TYPE, 13)

    def test_level_only(self) -> None:
        """A level-only payload is one byte holding the level."""
        self.assertEqual(build_payload(70), b"\x46")
        self.assertEqual(parse_payload(b"\x46"), ComfortNoise(70, b""))

    def test_round_trip_with_coefficients(self) -> None:
        """Reflection coefficients travel untouched after the level byte."""
        payload = build_payload(0, b"\x80\x7f\x01")
        self.assertEqual(payload, b"\x00\x80\x7f\x01")
        self.assertEqual(parse_payload(payload), ComfortNoise(0, b"\x80\x7f\x01"))

    def test_level_range(self) -> None:
        """Levels are 0..127 -dBov; anything else is refused when building."""
        self.assertEqual(build_payload(127), b"\x7f")
        for bad in (-1, 128, 255):
            self.assertRaises(ValueError, build_payload, bad)

    def test_reserved_bit_ignored(self) -> None:
        """The reserved top bit of the level byte does not change the level (§3.1)."""
        self.assertEqual(parse_payload(b"\xc6").level, 70)

    def test_empty_payload_rejected(self) -> None:
        """A CN payload must hold at least the level byte."""
        self.assertRaises(ValueError, parse_payload, b"")


class LevelTests(SynchronousTestCase):
    def test_full_scale_square_wave_is_zero_dbov(self) -> None:
        """0 dBov is the overload point: a full-scale square wave."""
        self.assertEqual(level_of(struct.pack("<4h", 32767, -32768, 32767, -32768)), 0)

    def test_silence_is_quietest(self) -> None:
        """Digital silence (and nothing at all) maps to 127."""
        self.assertEqual(level_of(bytes(320)), 127)
        self.assertEqual(level_of(b""), 127)

    def test_sine_levels(self) -> None:
        """A sine's level is its RMS (amplitude/√2) relative to full scale."""
        for dbov in (4, 20, 45):
            amplitude = 32768 * 10 ** (-dbov / 20) * math.sqrt(2)
            self.assertEqual(level_of(_sine(amplitude)), dbov)

    def test_odd_length_tolerated(self) -> None:
        """A trailing half sample is ignored, not an error."""
        self.assertEqual(level_of(_sine(3000) + b"\x01"), level_of(_sine(3000)))


class SynthesisTests(SynchronousTestCase):
    def test_noise_has_the_requested_level(self) -> None:
        """Synthesised noise measures back at the level it was made for."""
        rng = random.Random(1)
        for level in (10, 30, 60):
            self.assertEqual(level_of(synthesize(level, 16000, rng)), level)
        # At -90 dBov the RMS is about one LSB, so integer rounding costs a dB.
        self.assertLessEqual(abs(level_of(synthesize(90, 16000, rng)) - 90), 1)

    def test_length_and_determinism(self) -> None:
        """The caller picks the length; a seeded source gives repeatable noise."""
        a = synthesize(50, 160, random.Random(7))
        self.assertEqual(len(a), 320)
        self.assertEqual(a, synthesize(50, 160, random.Random(7)))
        self.assertNotEqual(a, bytes(320))

    def test_loud_levels_clip_at_full_scale(self) -> None:
        """Levels above about -5 dBov cannot be reached by uniform noise and stay in range."""
        samples = struct.unpack("<1000h", synthesize(0, 1000, random.Random(3)))
        self.assertLessEqual(max(map(abs, samples)), 32767)
        self.assertEqual(level_of(synthesize(0, 8000, random.Random(3))), 5)

    def test_level_range(self) -> None:
        self.assertRaises(ValueError, comfort_noise.synthesize, 128, 10)
