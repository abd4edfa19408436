"""
Cost of the built-in codecs per 20 ms frame, encode and decode.

Run from the repository root:  python benchmarks/bench_codecs.py [--frames N]

Each figure is the best of several runs of N consecutive frames through one
encoder or decoder object (as a call uses them), so it shows the codec, not
scheduler noise.  The last column is how many one-way streams one core could
code in real time (20 ms of audio per frame), an upper bound that ignores
RTP, sockets and the reactor.
"""

import argparse
import math
import platform
import sys
import timeit
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from roomkit_sip.codecs.g711 import PCMA, PCMU
from roomkit_sip.codecs.g722 import G722

FRAME_MS = 20


def speech_like(rate: int, frames: int) -> list[bytes]:
    """
    20 ms frames of a two-tone signal under a slow envelope: not silence,
    which a codec might code faster than speech.
    """
    n = rate * FRAME_MS // 1000
    out = []
    for f in range(frames):
        samples = array("h")
        for i in range(n):
            t = (f * n + i) / rate
            envelope = 0.5 + 0.5 * math.sin(2 * math.pi * 3 * t)
            mix = math.sin(2 * math.pi * 440 * t) + 0.5 * math.sin(2 * math.pi * 2300 * t)
            samples.append(int(9000 * envelope * mix))
        if sys.byteorder != "little":
            samples.byteswap()
        out.append(samples.tobytes())
    return out


def best_per_frame(work, frames: int, repeat: int) -> float:
    """Microseconds per frame, best of C{repeat} runs."""
    return min(timeit.repeat(work, number=1, repeat=repeat)) / frames * 1e6


def bench(codec, frames: int, repeat: int) -> tuple[float, float]:
    pcm = speech_like(codec.sample_rate, frames)
    payloads = [codec.new_encoder().encode(p) for p in pcm]

    def encode() -> None:
        encoder = codec.new_encoder()
        for frame in pcm:
            encoder.encode(frame)

    def decode() -> None:
        decoder = codec.new_decoder()
        for payload in payloads:
            decoder.decode(payload)

    return best_per_frame(encode, frames, repeat), best_per_frame(decode, frames, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--frames", type=int, default=2000, help="frames per run (default 2000)")
    parser.add_argument("--repeat", type=int, default=7, help="runs, best kept (default 7)")
    args = parser.parse_args()
    print(
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{args.frames} frames x {args.repeat} runs"
    )
    print(f"{'codec':<6} {'op':<7} {'us/frame':>9} {'streams/core':>13}")
    for codec in (PCMU, PCMA, G722):
        for op, micros in zip(("encode", "decode"), bench(codec, args.frames, args.repeat)):
            streams = FRAME_MS * 1000 / micros
            print(f"{codec.encoding_name:<6} {op:<7} {micros:>9.2f} {streams:>13,.0f}")


if __name__ == "__main__":
    main()
