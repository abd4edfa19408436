"""The send path of a MediaSession: pacing, barge-in, direct frames, hold, CN, codec change."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.codecs.g711 import PCMU
from roomkit_sip.codecs.g722 import G722
from roomkit_sip.media import MediaConfig
from tests.media._helpers import FRAME, PEER, Harness
from tests.support.audio import analyse_tone, tone, ulaw_decode

ONE_SECOND = tone(500, 1.0, peak_dbfs=-10)


class PacedTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness()
        self.s = self.h.session

    def test_one_packet_per_tick(self) -> None:
        self.s.send_audio(ONE_SECOND)
        self.s.end_of_response()
        self.h.advance(1.2)
        sent = self.h.sent()
        self.assertEqual(len(sent), 50)
        packets = [p for p, _ in sent]
        self.assertEqual({a for _, a in sent}, {PEER})
        self.assertEqual({(p.payload_type, p.ssrc) for p in packets}, {(0, self.s.ssrc)})
        self.assertEqual([p.marker for p in packets], [True] + [False] * 49)
        for a, b in zip(packets, packets[1:]):
            self.assertEqual((b.seq - a.seq) % 65536, 1)
            self.assertEqual((b.timestamp - a.timestamp) % 2**32, 160)
        pcm = b"".join(ulaw_decode(p.payload) for p in packets)
        self.assertEqual(analyse_tone(pcm, expected_hz=500, min_purity=0.99).problems, [])
        stats = self.h.stats()
        self.assertEqual((stats["packets_out"], stats["bytes_out"]), (50, 50 * 172))

    def test_drain_and_is_playing(self) -> None:
        self.s.send_audio(ONE_SECOND[:1000])  # 3 frames and a part
        drained = self.s.when_drained()
        self.assertTrue(self.s.is_playing)
        self.s.end_of_response()
        self.h.advance(0.06)
        self.assertNoResult(drained)
        self.h.advance(0.02)
        self.assertIs(self.successResultOf(drained), True)
        self.assertFalse(self.s.is_playing)
        self.assertEqual(len(self.h.sent()), 4)
        self.assertIs(self.successResultOf(self.s.when_drained()), True)

    def test_barge_in_within_one_frame(self) -> None:
        self.s.send_audio(ONE_SECOND)
        self.s.end_of_response()
        drained = self.s.when_drained()
        self.h.advance(0.2)
        before = len(self.h.sent())
        self.assertTrue(self.s.interrupt())
        self.h.advance(0.2)
        self.assertEqual(self.h.sent(), [])
        self.assertEqual(before, 10)
        self.assertIs(self.successResultOf(drained), False)
        self.assertFalse(self.s.is_playing)
        self.assertFalse(self.s.interrupt())
        ended = [r for r in self.h.rec.played if r[4]]
        self.assertEqual(len(ended), 1)

    def test_played_reports(self) -> None:
        self.s.send_audio(ONE_SECOND[:640])
        self.s.end_of_response()
        self.h.advance(0.1)
        packets = [p for p, _ in self.h.sent()]
        played = self.h.rec.played
        self.assertEqual(len(played), 3)
        (pcm, ts, real, queued, ended) = played[0]
        self.assertEqual(
            (pcm, ts, real, ended), (ONE_SECOND[:320], packets[0].timestamp, 320, False)
        )
        self.assertEqual(queued, 20.0)
        self.assertEqual(played[2][:4], (b"", packets[1].timestamp + 160, 0, 0.0))
        self.assertTrue(played[2][4])

    def test_send_audio_now(self) -> None:
        frame = ONE_SECOND[:320]
        self.assertTrue(self.s.send_audio_now(frame))
        self.h.reactor.advance(FRAME)
        self.assertTrue(self.s.send_audio_now(frame))
        packets = [p for p, _ in self.h.sent()]
        self.assertEqual(len(packets), 2)
        self.assertEqual([p.marker for p in packets], [True, False])
        self.assertEqual((packets[1].seq - packets[0].seq) % 65536, 1)
        self.assertEqual((packets[1].timestamp - packets[0].timestamp) % 2**32, 160)
        self.assertEqual(self.h.rec.played[0][:3], (frame, packets[0].timestamp, 320))
        # After a pause it starts a new talk spurt on the present timeline.
        self.h.advance(1.0)
        self.assertTrue(self.s.send_audio_now(frame))
        ((late, _),) = self.h.sent()
        self.assertTrue(late.marker)
        jump = (late.timestamp - packets[1].timestamp) % 2**32
        self.assertLessEqual(abs(jump - 8000), 160)  # 1 s, give or take the tick

    def test_hold_sends_nothing_and_resumes_with_marker(self) -> None:
        self.s.send_audio(ONE_SECOND)
        self.s.end_of_response()
        self.h.advance(0.2)
        first = [p for p, _ in self.h.sent()]
        self.s.set_direction(send=False, recv=True)
        drained = self.s.when_drained()
        self.h.advance(0.2)
        self.assertEqual(self.h.sent(), [])
        self.assertGreater(self.h.stats()["frames_suppressed"], 0)
        self.assertFalse(self.s.sending)
        self.s.set_direction(send=True, recv=True)
        self.h.advance(0.1)
        resumed = [p for p, _ in self.h.sent()]
        self.assertTrue(resumed[0].marker)
        self.assertEqual((resumed[0].seq - first[-1].seq) % 65536, 1)
        self.assertEqual((resumed[0].timestamp - first[-1].timestamp) % 2**32, 160 * 11)
        self.h.advance(1.0)
        self.assertIs(self.successResultOf(drained), True)

    def test_codec_change(self) -> None:
        self.s.send_audio(ONE_SECOND[:3200])
        self.h.advance(0.04)
        self.h.sent()
        drained = self.s.when_drained()
        self.s.set_codec(G722, 9)
        self.assertIs(self.successResultOf(drained), False)  # 8 kHz audio cannot play at 16
        self.assertEqual(self.s.sample_rate, 16000)
        self.s.send_audio(tone(500, 0.2, rate=16000))
        self.s.end_of_response()
        self.h.advance(0.3)
        packets = [p for p, _ in self.h.sent()]
        self.assertEqual(len(packets), 10)
        self.assertEqual({(p.payload_type, len(p.payload)) for p in packets}, {(9, 160)})
        decoder = G722.new_decoder()
        decoded = b"".join(decoder.decode(p.payload) for p in packets)
        self.assertEqual(analyse_tone(decoded, rate=16000, expected_hz=500).problems, [])

    def test_same_shape_codec_change_keeps_the_queue(self) -> None:
        from roomkit_sip.codecs.g711 import PCMA

        self.s.send_audio(ONE_SECOND[:3200])
        self.s.end_of_response()
        self.h.advance(0.04)
        self.s.set_codec(PCMA, 8)
        self.h.advance(0.2)
        pts = [p.payload_type for p, _ in self.h.sent()]
        self.assertEqual(pts, [0, 0] + [8] * 8)


class BetweenResponsesTests(SynchronousTestCase):
    def test_nothing_by_default(self) -> None:
        h = Harness()
        h.advance(0.2)
        self.assertEqual(h.sent(), [])

    def test_silence_fill(self) -> None:
        h = Harness(config=MediaConfig(outbound_silence_fill=True))
        h.advance(0.1)
        packets = [p for p, _ in h.sent()]
        self.assertEqual(len(packets), 5)
        self.assertEqual({p.payload for p in packets}, {b"\xff" * 160})
        self.assertEqual(h.rec.played[0][2], 0)  # no application bytes in it

    def test_comfort_noise(self) -> None:
        h = Harness(config=MediaConfig(comfort_noise=True))
        h.session.send_audio(ONE_SECOND[:640])
        h.session.end_of_response()
        h.advance(0.5)
        packets = [p for p, _ in h.sent()]
        self.assertEqual([p.payload_type for p in packets[:3]], [0, 0, 13])
        cn = [p for p in packets if p.payload_type == 13]
        self.assertEqual({p.payload for p in cn}, {b"\x7f"})  # RFC 3389: level only
        self.assertEqual(len(cn), 3)  # at the start, then every 200 ms

    def test_no_comfort_noise_unless_negotiated(self) -> None:
        h = Harness(config=MediaConfig(comfort_noise=True), cn_payload_type=None)
        h.session.send_audio(ONE_SECOND[:640])
        h.session.end_of_response()
        h.advance(0.5)
        self.assertEqual({p.payload_type for p, _ in h.sent()}, {0})


class TargetTests(SynchronousTestCase):
    """Unusable destinations from SDP: nothing is streamed at them."""

    def stream_to(self, remote) -> tuple[Harness, str]:
        h = Harness(remote_rtp=remote)
        h.session.send_audio(ONE_SECOND[:1600])
        h.session.end_of_response()
        h.advance(0.2)
        return h, h.session.update_remote(remote)

    def test_refused(self) -> None:
        cases = {
            ("192.0.2.1", 0): "port-zero",
            ("224.0.0.1", 5004): "multicast",
            ("255.255.255.255", 5004): "broadcast",
            ("::", 5004): "unspecified",
            ("pbx.example.com", 5004): "not-ip",
        }
        for remote, reason in cases.items():
            h, status = self.stream_to(remote)
            self.assertEqual(status, reason)
            self.assertEqual(h.sent(), [])
            self.assertEqual(h.rtcp_port.take_written(), [])
            self.assertEqual(len(self.flushLoggedErrors()), 0)

    def test_hold_address(self) -> None:
        h, status = self.stream_to(("0.0.0.0", 5004))
        self.assertEqual((status, h.sent()), ("hold", []))
        self.assertIsNone(h.session.remote_rtp)

    def test_late_offer_then_answer(self) -> None:
        h = Harness(remote_rtp=None)
        h.session.send_audio(ONE_SECOND)
        h.advance(0.1)
        self.assertEqual(h.sent(), [])
        self.assertEqual(h.session.update_remote(PEER), "ok")
        h.advance(0.1)
        self.assertEqual(len(h.sent()), 5)

    def test_refused_address_logged(self) -> None:
        from twisted.internet.testing import EventLoggingObserver
        from twisted.logger import globalLogPublisher

        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        Harness(remote_rtp=("224.1.2.3", 5004))
        refusals = [e for e in events if "refusing" in e.get("log_format", "")]
        self.assertEqual(len(refusals), 1)
        self.assertEqual(refusals[0]["reason"], "multicast")


class CodecSanityTests(SynchronousTestCase):
    def test_g711_frame_size(self) -> None:
        h = Harness(PCMU, 0)
        h.session.send_audio(bytes(320))
        h.session.end_of_response()
        h.advance(0.04)
        ((p, _),) = h.sent()
        self.assertEqual(len(p.payload), 160)
