"""
A RoomKit voice application on roomkit-sip: the app roomkit's own SIP
backend documents, with one import changed.

Every call gets a greeting (ON_SESSION_STARTED), key presses are read back
(ON_DTMF), what the caller says is transcribed (ON_TRANSCRIPTION), talking
over the bot interrupts it (barge-in), and a hang-up leaves the room.  To
stay runnable without API keys it uses roomkit's mock STT and a TTS that
speaks in tones; put real providers (Deepgram, ElevenLabs, ...) in
L{build_app} for a real bot.  Needs Python 3.12+ and the C{roomkit} extra::

    pip install 'roomkit-sip[roomkit]'
    python examples/roomkit_app.py --host 127.0.0.1 --port 5080

then call C{sip:bot@127.0.0.1:5080}.  See C{docs/asyncio.md}.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import signal
import struct
import sys
from collections.abc import AsyncIterator
from typing import Any

from roomkit import HookExecution, HookTrigger, RoomKit, VoiceChannel
from roomkit.voice import parse_voice_session
from roomkit.voice.base import AudioChunk
from roomkit.voice.pipeline.config import AudioPipelineConfig
from roomkit.voice.pipeline.vad.energy import EnergyVADProvider
from roomkit.voice.stt.mock import MockSTTProvider
from roomkit.voice.tts.mock import MockTTSProvider
from twisted.logger import STDLibLogObserver, globalLogBeginner

# The one change from an app on roomkit's backend:
#   from roomkit.voice.backends.sip import SIPVoiceBackend
from roomkit_sip.asyncio import SIPVoiceBackend

log = logging.getLogger("roomkit_app")

GREETING = "Welcome to the roomkit-sip demo line. Press a key, or say something."


class ToneTTS(MockTTSProvider):
    """
    A stand-in TTS that "speaks" each word as a short tone: real audio, so
    the caller hears something and barge-in has something to interrupt.
    """

    rate = 16000

    async def synthesize_stream(  # type: ignore[override]
        self, text: str, **kwargs: Any
    ) -> AsyncIterator[AudioChunk]:
        self.calls.append({"text": text, "voice": None})
        for word in text.split():
            hz = 440.0 + 40.0 * (len(word) % 8)
            count = int(self.rate * (0.12 + 0.03 * len(word)))
            tone = [round(7000 * math.sin(2 * math.pi * hz * i / self.rate)) for i in range(count)]
            gap = [0] * (self.rate // 20)
            pcm = struct.pack(f"<{count + len(gap)}h", *tone, *gap)
            yield AudioChunk(data=pcm, sample_rate=self.rate, is_final=False)
            await asyncio.sleep(0)  # a real TTS yields while it synthesises
        yield AudioChunk(data=b"", sample_rate=self.rate, is_final=True)


def build_app(
    host: str, port: int, rtp_ports: tuple[int, int], reactor: Any = None
) -> tuple[RoomKit, VoiceChannel, SIPVoiceBackend]:
    """
    The kit, its voice channel and the backend, wired as a roomkit app is.

    @param reactor: only for tests (their own reactor per loop); an app
        leaves it out.
    """
    kit = RoomKit()
    backend = SIPVoiceBackend(
        local_sip_addr=(host, port),
        local_rtp_ip=host,
        rtp_port_start=rtp_ports[0],
        rtp_port_end=rtp_ports[1],
        reactor=reactor,
    )
    voice = VoiceChannel(
        "voice",
        stt=MockSTTProvider(["I would like to talk to someone", "Thank you"]),
        tts=ToneTTS(),
        backend=backend,
        pipeline=AudioPipelineConfig(vad=EnergyVADProvider(energy_threshold=1000)),
    )
    kit.register_channel(voice)

    @backend.on_call
    async def handle_call(session: Any) -> None:
        log.info("call from %s (session %s)", session.metadata.get("caller"), session.id)
        await kit.process_inbound(parse_voice_session(session, channel_id="voice"))

    @backend.on_call_disconnected
    async def handle_hangup(session: Any) -> None:
        log.info("session %s hung up (%s)", session.id, session.metadata.get("disconnect_reason"))
        await kit.leave(session)

    @kit.hook(HookTrigger.ON_SESSION_STARTED, execution=HookExecution.ASYNC)
    async def greet(event: Any, ctx: Any) -> None:
        await voice.say(event.session, GREETING)

    @kit.hook(HookTrigger.ON_DTMF, execution=HookExecution.ASYNC)
    async def read_back(event: Any, ctx: Any) -> None:
        log.info("key %s", event.redacted_digit)
        await voice.say(event.session, f"You pressed {event.digit}")

    @kit.hook(HookTrigger.ON_TRANSCRIPTION, execution=HookExecution.ASYNC)
    async def heard(event: Any, ctx: Any) -> None:
        log.info("caller said: %s", event.text)

    @kit.hook(HookTrigger.ON_BARGE_IN, execution=HookExecution.ASYNC)
    async def interrupted(event: Any, ctx: Any) -> None:
        log.info("caller talked over the bot")

    return kit, voice, backend


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5080)
    parser.add_argument("--rtp-ports", type=int, nargs=2, default=(20000, 20100))
    args = parser.parse_args(argv)
    kit, voice, backend = build_app(args.host, args.port, tuple(args.rtp_ports))
    await backend.start()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    await kit.close()  # closes the channel, which closes the backend
    await backend.close()  # idempotent, as with roomkit's backend


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # roomkit-sip logs through twisted.logger; send it to the same place.
    globalLogBeginner.beginLoggingTo([STDLibLogObserver()], redirectStandardIO=False)
    asyncio.run(main(sys.argv[1:]))
