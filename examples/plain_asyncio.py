"""
A phone line in plain asyncio, without roomkit: roomkit-sip's
C{SIPVoiceBackend} answers every call, plays a short chime, then echoes
what the caller says back to them; a key press plays a beep; talking over
the chime stops it.

Run it, then call C{sip:echo@127.0.0.1:5080} from any softphone::

    python examples/plain_asyncio.py --host 127.0.0.1 --port 5080

Works on Python 3.11+ with only roomkit-sip installed (the backend then
hands out the package's own C{VoiceSession}, C{AudioFrame} and
C{DTMFEvent}).  See C{docs/asyncio.md}.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import struct
import sys
from collections.abc import AsyncIterator
from typing import Any

from twisted.logger import Logger, globalLogBeginner, textFileLogObserver

from roomkit_sip.asyncio import AudioChunk, SIPVoiceBackend

log = Logger(namespace="echo")

#: Caller audio louder than this (RMS, 16-bit scale) counts as speech.
SPEECH_RMS = 1000


def chime(rate: int = 16000, seconds: float = 2.0) -> bytes:
    """Two alternating tones: something to hear, and to talk over."""
    samples = []
    for i in range(int(rate * seconds)):
        hz = 660.0 if (i * 4 // rate) % 2 else 880.0
        samples.append(round(7000 * math.sin(2 * math.pi * hz * i / rate)))
    return struct.pack(f"<{len(samples)}h", *samples)


async def chunks(pcm: bytes, rate: int, size: int = 3200) -> AsyncIterator[AudioChunk]:
    """PCM as a stream of chunks, the way a TTS engine would deliver it."""
    for offset in range(0, len(pcm), size):
        yield AudioChunk(data=pcm[offset : offset + size], sample_rate=rate)


def loudness(pcm: bytes) -> float:
    count = len(pcm) // 2
    if not count:
        return 0.0
    samples = struct.unpack(f"<{count}h", pcm[: count * 2])
    return math.sqrt(sum(s * s for s in samples) / count)


def make_backend(
    host: str, port: int, rtp_ports: tuple[int, int], reactor: Any = None
) -> SIPVoiceBackend:
    """
    The backend with the echo line's callbacks wired.

    @param reactor: left C{None} by the command line (the asyncio reactor
        is installed on the running loop); tests pass one of their own.
    """
    backend = SIPVoiceBackend(
        local_sip_addr=(host, port),
        local_rtp_ip=host,
        rtp_port_start=rtp_ports[0],
        rtp_port_end=rtp_ports[1],
        reactor=reactor,
    )
    greeting_done: set[str] = set()

    @backend.on_call
    def answered(session: Any) -> None:
        log.info("call from {caller} ({session_id})", caller=session.metadata["caller"],
                 session_id=session.id)  # fmt: skip

    async def greet(session: Any) -> None:
        # The chime is at 16 kHz whatever the codec: the backend resamples.
        await backend.send_audio(session, chunks(chime(), 16000))
        greeting_done.add(session.id)

    backend.on_session_ready(lambda session: asyncio.ensure_future(greet(session)))

    def heard(session: Any, frame: Any) -> None:
        if session.id in greeting_done and not backend.is_playing(session):
            # Echo: frames arrive paced, so each goes straight out as RTP
            # (except while a key's beep plays).
            backend.send_audio_sync(session, AudioChunk(frame.data, frame.sample_rate))
        elif loudness(frame.data) > SPEECH_RMS:
            asyncio.ensure_future(backend.cancel_audio(session))  # barge-in

    backend.on_audio_received(heard)

    @backend.on_dtmf_received
    async def pressed(session: Any, event: Any) -> None:
        log.info("key {digit} on {session_id}", digit=event.digit, session_id=session.id)
        beep = chime(backend.get_codec_rate(session.id), 0.15)
        await backend.send_audio(session, beep)  # bytes: queued at the codec rate
        backend.end_of_response(session)  # so the last partial frame goes out too

    @backend.on_call_disconnected
    def hung_up(session: Any) -> None:
        greeting_done.discard(session.id)
        log.info("{session_id} hung up ({reason})", session_id=session.id,
                 reason=session.metadata.get("disconnect_reason"))  # fmt: skip

    return backend


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5080)
    parser.add_argument("--rtp-ports", type=int, nargs=2, default=(20000, 20100))
    args = parser.parse_args(argv)
    backend = make_backend(args.host, args.port, tuple(args.rtp_ports))
    await backend.start()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    await backend.close()


if __name__ == "__main__":
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    asyncio.run(main(sys.argv[1:]))
