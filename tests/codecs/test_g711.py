"""PCMU/PCMA against the ITU-T G.191 tables, plus framing, robustness and quality."""

import importlib
import struct
import sys

from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from roomkit_sip.codecs.g711 import PCMA, PCMU
from roomkit_sip.interfaces import ICodec, IDecoder, IEncoder

from ._signal import DATA, from_pcm, sha256sums_mismatches, snr_db, to_pcm, tone

G711 = DATA / "g711"
#: Every int16 value, ascending, as little-endian PCM: index i holds i - 32768.
EVERY_SAMPLE = struct.pack("<65536h", *range(-32768, 32768))
EVERY_CODE = bytes(range(256))


def _table(name: str) -> bytes:
    return (G711 / name).read_bytes()


def _decoded_table(name: str) -> tuple[int, ...]:
    return struct.unpack("<256h", _table(name))


class ProviderTests(SynchronousTestCase):
    def test_interfaces(self) -> None:
        """Each law is an ICodec plugin whose encoder and decoder verify."""
        for codec in (PCMU, PCMA):
            verifyObject(ICodec, codec)
            verifyObject(IPlugin, codec)
            verifyObject(IEncoder, codec.new_encoder())
            verifyObject(IDecoder, codec.new_decoder())

    def test_rtp_parameters(self) -> None:
        """RFC 3551 static payload types, 8 kHz everywhere, 20 ms frames, no fmtp."""
        self.assertEqual(
            [(c.encoding_name, c.payload_type, c.clock_rate, c.sample_rate) for c in (PCMU, PCMA)],
            [("PCMU", 0, 8000, 8000), ("PCMA", 8, 8000, 8000)],
        )
        for codec in (PCMU, PCMA):
            self.assertEqual((codec.channels, codec.frame_ms, codec.fmtp), (1, 20, None))

    def test_fresh_objects_per_stream(self) -> None:
        """new_encoder/new_decoder hand out a new object every time."""
        self.assertIsNot(PCMU.new_encoder(), PCMU.new_encoder())
        self.assertIsNot(PCMA.new_decoder(), PCMA.new_decoder())


class AudioopImportTests(SynchronousTestCase):
    def test_missing_module_names_the_backport(self) -> None:
        """Without audioop (3.13+ lacking audioop-lts) the error says what to install."""
        shim = "roomkit_sip.codecs._audioop"
        saved = {name: sys.modules.pop(name) for name in (shim, "audioop") if name in sys.modules}
        self.addCleanup(sys.modules.update, saved)
        self.addCleanup(sys.modules.pop, shim, None)
        sys.modules["audioop"] = None  # makes "import audioop" fail as if absent
        self.addCleanup(sys.modules.pop, "audioop", None)
        error = self.assertRaises(ImportError, importlib.import_module, shim)
        self.assertIn("audioop-lts", str(error))


class ConformanceTests(SynchronousTestCase):
    def test_data_intact(self) -> None:
        """The G.191 tables are the byte-exact copies listed in SHA256SUMS."""
        self.assertEqual(sha256sums_mismatches(G711), [])

    def test_ulaw_decode(self) -> None:
        """μ-law decoding equals G.191 for all 256 codes."""
        self.assertEqual(PCMU.new_decoder().decode(EVERY_CODE), _table("ulaw_decode.s16le"))

    def test_alaw_decode(self) -> None:
        """A-law decoding equals G.191 for all 256 codes."""
        self.assertEqual(PCMA.new_decoder().decode(EVERY_CODE), _table("alaw_decode.s16le"))

    def test_alaw_encode(self) -> None:
        """A-law encoding equals G.191 for all 65,536 inputs."""
        self.assertEqual(PCMA.new_encoder().encode(EVERY_SAMPLE), _table("alaw_encode_g191.u8"))

    def test_ulaw_encode_known_deviation(self) -> None:
        """
        μ-law encoding differs from G.191 exactly on the 4 inputs just past
        each of the 127 negative decision thresholds, each time by choosing
        the adjacent code of larger magnitude (the decision documented in
        L{roomkit_sip.codecs.g711}); every other input is identical.
        """
        reference = _table("ulaw_encode_g191.u8")
        ours = PCMU.new_encoder().encode(EVERY_SAMPLE)
        levels = _decoded_table("ulaw_decode.s16le")

        def code(table: bytes, sample: int) -> int:
            return table[sample + 32768]

        # Derive the expected deviation from the reference table itself.
        thresholds = [x for x in range(-32767, 0) if code(reference, x) != code(reference, x - 1)]
        self.assertEqual(len(thresholds), 127)
        expected = {x + k for x in thresholds for k in range(4)}
        differing = {i - 32768 for i in range(65536) if ours[i] != reference[i]}
        self.assertEqual(differing, expected)
        for x in sorted(differing):
            want, got = code(reference, x), code(ours, x)
            self.assertEqual(got, want - 1, f"input {x}")
            self.assertLess(levels[got], levels[want], f"input {x}")


class FramingTests(SynchronousTestCase):
    def test_twenty_ms_frame(self) -> None:
        """160 samples (320 bytes) encode to 160 bytes and decode back to 320."""
        pcm = to_pcm(tone(1000, 8000, 0.02, 8000))
        for codec in (PCMU, PCMA):
            payload = codec.new_encoder().encode(pcm)
            self.assertEqual(len(payload), 160)
            self.assertEqual(len(codec.new_decoder().decode(payload)), 320)

    def test_any_payload_length_decodes(self) -> None:
        """Short, odd and empty payloads from the network decode to one sample per byte."""
        for codec in (PCMU, PCMA):
            decoder = codec.new_decoder()
            for size in (0, 1, 3, 159, 161):
                self.assertEqual(len(decoder.decode(bytes(range(size)))), 2 * size)

    def test_partial_sample_rejected(self) -> None:
        """PCM with half a sample is a local bug and raises ValueError."""
        for codec in (PCMU, PCMA):
            self.assertRaises(ValueError, codec.new_encoder().encode, b"\x00\x01\x02")

    def test_little_endian(self) -> None:
        """PCM is little-endian: bytes 00 01 are the sample +256, not +1."""
        table = _table("ulaw_encode_g191.u8")
        self.assertEqual(table[256 + 32768], 0xE7)
        self.assertNotEqual(table[1 + 32768], 0xE7)
        self.assertEqual(PCMU.new_encoder().encode(b"\x00\x01"), b"\xe7")


class QualityTests(SynchronousTestCase):
    # Logarithmic companding keeps the SNR near 38 dB over most of the range
    # (measured 36.1-39.3 dB at -30 dBFS, 36.4-49.5 dB at -10 dBFS); 33 dB
    # leaves margin yet fails on any real fault (a swapped byte order or law
    # costs tens of dB).
    MIN_SNR_DB = 33.0

    def test_tones_round_trip(self) -> None:
        """300 Hz, 1 kHz and 3 kHz tones at -10 and -30 dBFS survive encode/decode."""
        for codec in (PCMU, PCMA):
            for amplitude in (10000, 1000):
                for frequency in (300, 1000, 3000):
                    x = tone(frequency, 8000, 0.5, amplitude)
                    y = from_pcm(codec.new_decoder().decode(codec.new_encoder().encode(to_pcm(x))))
                    snr = snr_db(x, y)
                    self.assertGreater(
                        snr, self.MIN_SNR_DB, f"{codec.encoding_name} {frequency} Hz {amplitude}"
                    )

    def test_wrong_law_is_caught(self) -> None:
        """The SNR check can fail: decoding μ-law as A-law wrecks the tone."""
        x = tone(1000, 8000, 0.5, 10000)
        y = from_pcm(PCMA.new_decoder().decode(PCMU.new_encoder().encode(to_pcm(x))))
        self.assertLess(snr_db(x, y), 10)
