"""G.722 through libg722: regression vectors, framing, per-stream state, quality."""

import hashlib
from array import array

from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from roomkit_sip.codecs.g722 import G722, G722Decoder, G722Encoder
from roomkit_sip.interfaces import ICodec, IDecoder, IEncoder

from ._signal import (
    DATA,
    best_delay,
    from_pcm,
    sha256sums_mismatches,
    snr_db,
    to_pcm,
    tone,
)

G722_DATA = DATA / "g722"
#: Payload bytes per 20 ms at both PCM rates (one byte per 16 kHz sample pair).
PAYLOAD_BYTES = 160
#: The QMF analysis and synthesis filters delay the decoded signal by 22 samples at 16 kHz.
CODEC_DELAY = 22


def _swap16(pcm: bytes) -> bytes:
    """Swap the two bytes of every 16-bit sample (little- <-> big-endian)."""
    samples = array("h", pcm)
    samples.byteswap()
    return samples.tobytes()


def _pcminb(byteorder: str) -> bytes:
    """pcminb.dat as little-endian PCM, reading the raw file in C{byteorder}."""
    raw = (G722_DATA / "pcminb.dat").read_bytes()
    return raw if byteorder == "little" else _swap16(raw)


def _encode_stream(encoder: G722Encoder, pcm: bytes, frame_samples: int) -> bytes:
    """Feed C{pcm} to one encoder in 20 ms frames, as a call would."""
    step = 2 * frame_samples
    return b"".join(encoder.encode(pcm[i : i + step]) for i in range(0, len(pcm), step))


def _decode_stream(decoder: G722Decoder, payload: bytes) -> bytes:
    return b"".join(
        decoder.decode(payload[i : i + PAYLOAD_BYTES])
        for i in range(0, len(payload), PAYLOAD_BYTES)
    )


class ProviderTests(SynchronousTestCase):
    def test_interfaces(self) -> None:
        """G722 is an ICodec plugin whose encoder and decoder verify."""
        verifyObject(ICodec, G722)
        verifyObject(IPlugin, G722)
        verifyObject(IEncoder, G722.new_encoder())
        verifyObject(IDecoder, G722.new_decoder())

    def test_rtp_parameters(self) -> None:
        """PT 9, 16 kHz PCM on the 8000 Hz RTP clock of RFC 3551 §4.5.2."""
        self.assertEqual(
            (G722.encoding_name, G722.payload_type, G722.clock_rate, G722.sample_rate),
            ("G722", 9, 8000, 16000),
        )
        self.assertEqual((G722.channels, G722.frame_ms, G722.fmtp), (1, 20, None))


class RegressionVectorTests(SynchronousTestCase):
    """libg722's own checks, recomputed through our encoder/decoder objects."""

    def test_data_intact(self) -> None:
        """The libg722 files are the byte-exact copies listed in SHA256SUMS."""
        self.assertEqual(sha256sums_mismatches(G722_DATA), [])

    def test_pcminb_checksums(self) -> None:
        """
        Every bit rate in both PCM modes: encoded size and MD5, and the MD5 of
        decoding it again, fed 20 ms at a time through one object per stream.
        """
        pcm = _pcminb("little")
        self.assertEqual(sum(from_pcm(pcm)), 7206958)
        rows = [
            line.split()
            for line in (G722_DATA / "pcminb.checksum").read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
        self.assertEqual(len(rows), 6)
        for key, size, encoded_md5, decoded_md5 in rows:
            bit_rate, rate = map(int, key.split("_"))
            encoded = _encode_stream(G722Encoder(rate, bit_rate), pcm, rate // 50)
            self.assertEqual(len(encoded), int(size), key)
            self.assertEqual(hashlib.md5(encoded).hexdigest(), encoded_md5, key)
            decoded = _decode_stream(G722Decoder(rate, bit_rate), encoded)
            self.assertEqual(hashlib.md5(decoded).hexdigest(), decoded_md5, key)

    def test_driver_checksums(self) -> None:
        """The six outputs of libg722's C test driver (64 kbit/s), by SHA-256."""
        want = {}
        for line in (G722_DATA / "test.checksum").read_text().splitlines():
            if line.strip():
                digest, name = line.split()
                want[name.lstrip("*")] = digest
        stream = (G722_DATA / "test.g722").read_bytes()
        raw8 = _decode_stream(G722Decoder(8000), stream)
        pcminb_g722 = _encode_stream(G722Encoder(16000), _pcminb("big"), 320)
        got = {
            "test.raw.out": raw8,
            "test.raw.16k.out": _decode_stream(G722Decoder(16000), stream),
            "pcminb.g722.out": pcminb_g722,
            "pcminb.raw.16k.out": _swap16(_decode_stream(G722Decoder(16000), pcminb_g722)),
            "test.g722.out": _encode_stream(G722Encoder(8000), raw8, 160),
            "fullscale.raw.out": _decode_stream(
                G722Decoder(16000), (G722_DATA / "fullscale.g722").read_bytes()
            ),
        }
        self.assertEqual(
            {name: hashlib.sha256(data).hexdigest() for name, data in got.items()}, want
        )


class FramingTests(SynchronousTestCase):
    def test_twenty_ms_frame(self) -> None:
        """320 samples (640 bytes) become 160 bytes, which decode to 640 bytes."""
        payload = G722.new_encoder().encode(to_pcm(tone(1000, 16000, 0.02, 8000)))
        self.assertEqual(len(payload), PAYLOAD_BYTES)
        self.assertEqual(len(G722.new_decoder().decode(payload)), 640)

    def test_any_payload_length_decodes(self) -> None:
        """Short, odd and empty payloads decode to two samples per byte, never raise."""
        decoder = G722.new_decoder()
        for size in (0, 1, 3, 159, 161):
            self.assertEqual(len(decoder.decode(bytes(range(size)))), 4 * size)

    def test_memoryview_payload(self) -> None:
        """A payload sliced out of a packet buffer (memoryview) decodes like bytes."""
        payload = bytes(range(160))
        self.assertEqual(
            G722.new_decoder().decode(memoryview(payload)), G722.new_decoder().decode(payload)
        )

    def test_odd_sample_carried_over(self) -> None:
        """
        An odd trailing sample is kept for the next call, not dropped: 321 then
        319 samples encode exactly like 640 samples at once.
        """
        pcm = to_pcm(tone(440, 16000, 0.04, 9000))
        split = G722.new_encoder()
        first = split.encode(pcm[:642])
        second = split.encode(pcm[642:])
        self.assertEqual((len(first), len(second)), (160, 160))
        self.assertEqual(first + second, G722.new_encoder().encode(pcm))

    def test_partial_sample_rejected(self) -> None:
        """PCM with half a sample is a local bug and raises ValueError."""
        self.assertRaises(ValueError, G722.new_encoder().encode, b"\x00\x01\x02")


class StateTests(SynchronousTestCase):
    def test_interleaved_streams_are_independent(self) -> None:
        """
        Two calls' encoders and decoders used frame by frame in turn give the
        same bytes as each stream coded on its own: no state is shared.
        """
        a = _pcminb("little")[: 2 * 16000]
        b = to_pcm(tone(700, 16000, 1.0, 12000))
        frames = range(0, len(a), 640)
        enc_a, enc_b = G722.new_encoder(), G722.new_encoder()
        dec_a, dec_b = G722.new_decoder(), G722.new_decoder()
        out_a, out_b, pcm_a, pcm_b = [], [], [], []
        for i in frames:
            out_a.append(enc_a.encode(a[i : i + 640]))
            out_b.append(enc_b.encode(b[i : i + 640]))
            pcm_a.append(dec_a.decode(out_a[-1]))
            pcm_b.append(dec_b.decode(out_b[-1]))
        alone_a = _encode_stream(G722.new_encoder(), a, 320)
        alone_b = _encode_stream(G722.new_encoder(), b, 320)
        self.assertEqual(b"".join(out_a), alone_a)
        self.assertEqual(b"".join(out_b), alone_b)
        self.assertEqual(b"".join(pcm_a), _decode_stream(G722.new_decoder(), alone_a))
        self.assertEqual(b"".join(pcm_b), _decode_stream(G722.new_decoder(), alone_b))

    def test_state_matters(self) -> None:
        """Restarting the decoder every frame (shared or lost state) ruins the audio."""
        x = tone(1000, 16000, 0.5, 10000)
        payload = _encode_stream(G722.new_encoder(), to_pcm(x), 320)
        y = array("h")
        for i in range(0, len(payload), PAYLOAD_BYTES):
            y.extend(from_pcm(G722.new_decoder().decode(payload[i : i + PAYLOAD_BYTES])))
        self.assertLess(snr_db(x, y, CODEC_DELAY, skip=800), 10)


class QualityTests(SynchronousTestCase):
    """
    Round-trip SNR of tones at -10 dBFS (amplitude 10,000), 20 ms frames,
    after the codec delay and the first 50 ms of ADPCM adaptation.

    Measured with G722 1.2.8: 300 Hz 62.2 dB, 1 kHz 47.4 dB, 3 kHz 41.1 dB
    (the lower band's 6-bit ADPCM resolves low tones best; 3 kHz sits where
    the band-split filters overlap).  The thresholds leave about 6 dB of
    margin and still sit far above what any fault gives (lost state: < 1 dB).
    """

    THRESHOLDS_DB = {300: 56.0, 1000: 41.0, 3000: 35.0}

    def test_codec_delay(self) -> None:
        """Speech comes back delayed by the QMF's 22 samples, the lag the SNR uses."""
        pcm = _pcminb("little")
        decoded = from_pcm(
            _decode_stream(G722.new_decoder(), _encode_stream(G722.new_encoder(), pcm, 320))
        )
        x = from_pcm(pcm)
        self.assertEqual(best_delay(x[8000:12000], decoded[8000:12040], 40), CODEC_DELAY)

    def test_tones_round_trip(self) -> None:
        for frequency, threshold in sorted(self.THRESHOLDS_DB.items()):
            x = tone(frequency, 16000, 1.0, 10000)
            payload = _encode_stream(G722.new_encoder(), to_pcm(x), 320)
            y = from_pcm(_decode_stream(G722.new_decoder(), payload))
            snr = snr_db(x, y, CODEC_DELAY, skip=800)
            self.assertGreater(snr, threshold, f"{frequency} Hz")
