# -*- test-case-name: tests.codecs.test_g711 -*-
"""
G.711 μ-law (PCMU, payload type 0) and A-law (PCMA, payload type 8): 8 kHz
PCM, one byte per sample, an 8000 Hz RTP clock (RFC 3551 §4.5.14).

The conversion is C{audioop}'s (C, about a microsecond per frame).  Checked
against the ITU-T G.191 reference tables in C{tests/data/g711}: both decoders
and the A-law encoder are identical to G.191 for every input.  The μ-law
encoder is not: for the 4 inputs just past each of the 127 negative decision
thresholds (508 of 65,536) it picks the neighbouring code of larger magnitude,
because C{audioop} negates where G.191 takes the one's complement.  We keep
that behaviour on purpose: the error is one quantisation step at a threshold,
inaudible and decoded the same by every peer, while a bit-exact encoder in
Python would cost far more per frame.  A test pins exactly those 508 inputs,
so a change in C{audioop} (or C{audioop-lts} on 3.13) cannot pass unnoticed.
"""

import sys
from collections.abc import Callable

from twisted.plugin import IPlugin
from zope.interface import implementer

from roomkit_sip.codecs._audioop import audioop
from roomkit_sip.interfaces import ICodec, IDecoder, IEncoder

#: C{audioop} works on samples in native byte order; RTP PCM here is little-endian.
_SWAP = sys.byteorder != "little"

_Convert = Callable[[bytes, int], bytes]


@implementer(IEncoder)
class G711Encoder:
    """
    PCM to G.711.  Stateless, but handed out per stream like every encoder so
    that callers need not know which codecs keep state.
    """

    __slots__ = ("_compress",)

    def __init__(self, compress: _Convert) -> None:
        self._compress = compress

    def encode(self, pcm: bytes) -> bytes:
        """
        @param pcm: 16-bit little-endian mono samples at 8 kHz, any count.
        @raise ValueError: C{pcm} does not hold whole samples (a local bug,
            never network input).
        """
        if len(pcm) % 2:
            raise ValueError(f"PCM must hold whole 16-bit samples, got {len(pcm)} bytes")
        if _SWAP:
            pcm = audioop.byteswap(pcm, 2)
        return self._compress(pcm, 2)


@implementer(IDecoder)
class G711Decoder:
    """
    G.711 to PCM.  Every byte is one sample, so a payload of any length, even
    an empty or truncated one from the network, decodes without error.
    """

    __slots__ = ("_expand",)

    def __init__(self, expand: _Convert) -> None:
        self._expand = expand

    def decode(self, payload: bytes) -> bytes:
        pcm = self._expand(payload, 2)
        return audioop.byteswap(pcm, 2) if _SWAP else pcm


@implementer(ICodec, IPlugin)
class G711Codec:
    """A G.711 law on RTP: 8 kHz PCM, 8000 Hz clock, 20 ms frames of 160 bytes."""

    clock_rate = 8000
    sample_rate = 8000
    channels = 1
    frame_ms = 20
    fmtp = None

    def __init__(
        self, encoding_name: str, payload_type: int, compress: _Convert, expand: _Convert
    ) -> None:
        self.encoding_name = encoding_name
        self.payload_type = payload_type
        self._compress = compress
        self._expand = expand

    def new_encoder(self) -> G711Encoder:
        return G711Encoder(self._compress)

    def new_decoder(self) -> G711Decoder:
        return G711Decoder(self._expand)

    def __repr__(self) -> str:
        return f"<G711Codec {self.encoding_name}/{self.clock_rate} pt={self.payload_type}>"


#: μ-law, RFC 3551 static payload type 0.
PCMU = G711Codec("PCMU", 0, audioop.lin2ulaw, audioop.ulaw2lin)
#: A-law, RFC 3551 static payload type 8.
PCMA = G711Codec("PCMA", 8, audioop.lin2alaw, audioop.alaw2lin)
