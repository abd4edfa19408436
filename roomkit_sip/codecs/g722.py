# -*- test-case-name: tests.codecs.test_g722 -*-
"""
G.722 (payload type 9) through the C{G722} package, Steve Underwood's libg722,
which is bit-exact with the ITU reference (its regression vectors are in
C{tests/data/g722}).

G.722 samples at 16 kHz but RTP counts it on an 8000 Hz clock, a historical
error RFC 3551 §4.5.2 keeps for compatibility: a 20 ms frame is 320 samples in,
160 bytes (64 kbit/s) out, and the RTP timestamp advances by 160.

G.722 is ADPCM: every code depends on all earlier ones, so each direction of
each call needs its own encoder or decoder object and must feed it the whole
stream in order.  The C{G722} extension is imported when the first encoder or
decoder is made, so publishing the plugin stays cheap.
"""

import sys
from array import array

from twisted.plugin import IPlugin
from zope.interface import implementer

from roomkit_sip.interfaces import ICodec, IDecoder, IEncoder

#: The extension takes and returns native-order int16; RTP PCM here is little-endian.
_SWAP = sys.byteorder != "little"


def _codec_state(sample_rate: int, bit_rate: int):
    """One libg722 state object (encoder and decoder state live in it)."""
    from G722 import G722 as LibG722

    return LibG722(sample_rate, bit_rate)


@implementer(IEncoder)
class G722Encoder:
    """
    PCM to G.722 for one outgoing stream.

    At 16 kHz one code byte covers two samples, and libg722 silently drops an
    odd trailing sample; this encoder keeps it and puts it in front of the
    next call's samples instead, so no audio is lost and the stream stays
    aligned whatever the caller's chunk sizes.
    """

    __slots__ = ("_state", "_pairs", "_carry")

    def __init__(self, sample_rate: int = 16000, bit_rate: int = 64000) -> None:
        """
        @param sample_rate: 16000 (wideband PCM, what RTP carries) or 8000
            (narrowband PCM in, upsampled by libg722).
        @param bit_rate: 64000, 56000 or 48000.
        """
        self._state = _codec_state(sample_rate, bit_rate)
        self._pairs = sample_rate == 16000
        self._carry: int | None = None

    def encode(self, pcm: bytes) -> bytes:
        """
        @param pcm: 16-bit little-endian mono samples at the encoder's rate.
        @raise ValueError: C{pcm} does not hold whole samples (a local bug).
        """
        if len(pcm) % 2:
            raise ValueError(f"PCM must hold whole 16-bit samples, got {len(pcm)} bytes")
        samples = array("h")
        samples.frombytes(pcm)
        if _SWAP:
            samples.byteswap()
        if self._pairs:
            if self._carry is not None:
                samples.insert(0, self._carry)
                self._carry = None
            if len(samples) % 2:
                self._carry = samples.pop()
        return self._state.encode(samples)


@implementer(IDecoder)
class G722Decoder:
    """
    G.722 to PCM for one incoming stream.

    Any byte is a valid code, so a payload of any length (odd, truncated,
    empty) decodes to two samples per byte at 16 kHz without raising.
    """

    __slots__ = ("_state",)

    def __init__(self, sample_rate: int = 16000, bit_rate: int = 64000) -> None:
        self._state = _codec_state(sample_rate, bit_rate)

    def decode(self, payload: bytes) -> bytes:
        if not payload:
            return b""
        samples = self._state.decode(bytes(payload))
        if _SWAP:
            samples.byteswap()
        return samples.tobytes()


@implementer(ICodec, IPlugin)
class G722Codec:
    """G.722 at 64 kbit/s on RTP: 16 kHz PCM, 8000 Hz clock, 20 ms frames of 160 bytes."""

    encoding_name = "G722"
    payload_type = 9
    clock_rate = 8000
    sample_rate = 16000
    channels = 1
    frame_ms = 20
    fmtp = None

    def new_encoder(self) -> G722Encoder:
        return G722Encoder()

    def new_decoder(self) -> G722Decoder:
        return G722Decoder()

    def __repr__(self) -> str:
        return f"<G722Codec {self.encoding_name}/{self.clock_rate} pt={self.payload_type}>"


#: G.722, RFC 3551 static payload type 9.
G722 = G722Codec()
