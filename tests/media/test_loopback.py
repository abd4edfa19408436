"""
The issue's "done when": ten seconds of a tone through two media sessions,
both ways at once, for each built-in codec, decoded at the far end with the
frequency and level it was sent with and not one frame missing.

The two sessions share a MemoryUDPReactor and one media clock; after every
20 ms step the datagrams each port wrote are carried to the port they were
addressed to.  Deterministic and fast: 1,000 packets per codec in well under
a second.  test_loopback_real does the same over real sockets.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.codecs.g711 import PCMA, PCMU
from roomkit_sip.codecs.g722 import G722
from roomkit_sip.rtp.pacing import MediaClock
from roomkit_sip.testing import MemoryUDPReactor
from roomkit_sip.transport import RTPPortAllocator
from tests.media._helpers import HOST, Harness, advance, pump
from tests.support.audio import analyse_tone, continuity, rms_dbfs, tone

SECONDS = 10.0


class MemoryLoopbackTests(SynchronousTestCase):
    def loop(self, codec, payload_type: int, a_hz: float, b_hz: float, min_purity: float):
        rate = codec.sample_rate
        reactor = MemoryUDPReactor()
        reactor.advance(5000.0)
        clock = MediaClock(reactor)
        allocator = RTPPortAllocator(reactor, HOST, 30000, 30010)
        common = {
            "reactor": reactor,
            "clock": clock,
            "allocator": allocator,
            "dtmf_payload_type": 101,
        }
        a = Harness(codec, payload_type, remote_rtp=None, **common)
        b = Harness(codec, payload_type, remote_rtp=(HOST, a.ports.rtp_port), **common)
        a.session.update_remote((HOST, b.ports.rtp_port))
        sent = {}
        for h, hz in ((a, a_hz), (b, b_hz)):
            sent[h] = tone(hz, SECONDS, rate=rate, peak_dbfs=-12.0)
            h.session.send_audio(sent[h])
            h.session.end_of_response()
        drained = [h.session.when_drained() for h in (a, b)]
        advance(reactor, SECONDS + 0.2, each=lambda: pump(reactor))
        self.assertEqual([self.successResultOf(d) for d in drained], [True, True])
        frame_bytes = rate // 50 * 2
        for receiver, sender, hz in ((b, a, a_hz), (a, b, b_hz)):
            frames = receiver.rec.audio
            self.assertEqual(len(frames), 500)
            self.assertEqual({len(f) for f in frames}, {frame_bytes})
            self.assertEqual(continuity(frames).bad, 0)
            # Every second on its own: a glitch anywhere shows as a bad window.
            # (The first frame holds the codec's start-up transient, G.722's filters.)
            pcm = b"".join(frames[1:])
            second = 50 * frame_bytes
            for start in range(0, len(pcm) - second + 1, second):
                analysis = analyse_tone(
                    pcm[start : start + second],
                    rate=rate,
                    expected_hz=hz,
                    tolerance_hz=2.0,
                    min_purity=min_purity,
                )
                self.assertEqual(analysis.problems, [], f"second {start // second}")
                self.assertLess(abs(analysis.level_dbfs - rms_dbfs(sent[sender])), 0.5)
            stats = receiver.stats()
            self.assertEqual(
                (stats["lost"], stats["concealed"], stats["late"], stats["dropped_invalid"]),
                (0, 0, 0, 0),
            )
            self.assertEqual(stats["packets_in"], 500 + stats["rtcp_mux"])
        for h in (a, b):
            h.session.close()
        self.assertEqual(reactor.getDelayedCalls(), [])
        self.assertEqual(reactor.udp_ports, {})

    def test_pcmu(self) -> None:
        self.loop(PCMU, 0, 1000.0, 440.0, 0.99)

    def test_pcma(self) -> None:
        self.loop(PCMA, 8, 1000.0, 440.0, 0.99)

    def test_g722(self) -> None:
        # 6 kHz is beyond narrowband: it crosses only because G.722 is wideband.
        self.loop(G722, 9, 1000.0, 6000.0, 0.95)
