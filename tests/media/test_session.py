"""MediaSession lifecycle: close releases everything, once; the stats dict."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.codecs.g711 import PCMU
from roomkit_sip.media import MediaConfig, MediaSession
from roomkit_sip.rtp.pacing import MediaClock
from roomkit_sip.rtp.rtcp import parse_rtcp
from roomkit_sip.testing import MemoryUDPReactor
from roomkit_sip.transport import RTPPortAllocator
from tests.media._helpers import HOST, PEER, Harness, event, rtp
from tests.support.audio import tone

STATS_KEYS = {
    "packets_in",
    "bytes_in",
    "packets_out",
    "bytes_out",
    "lost",
    "late",
    "duplicate",
    "reordered",
    "concealed",
    "dropped_invalid",
    "dropped_unknown_pt",
    "jitter_ms",
    "rtt_ms",
    "mos",
    "r_factor",
    "loss_rate",
    "dropped_source",
    "remote_fraction_lost",
    "remote_jitter_ms",
}


class CloseTests(SynchronousTestCase):
    def assert_released(self, h: Harness) -> None:
        self.assertEqual(h.reactor.getDelayedCalls(), [])
        self.assertEqual(h.reactor.udp_ports, {})
        self.assertEqual((h.allocator.allocated, h.allocator.in_quarantine), (0, 1))
        self.assertFalse(h.clock.running)

    def test_idle_session(self) -> None:
        h = Harness()
        self.assertIsNone(self.successResultOf(h.session.close()))
        self.assert_released(h)

    def test_busy_session(self) -> None:
        """Close with playback, a DTMF event, a jitter hole and both watchdogs pending."""
        h = Harness(dtmf_payload_type=101, config=MediaConfig(outbound_silence_fill=False))
        s = h.session
        s.send_audio(tone(440, 2.0))
        drained = s.when_drained()
        h.deliver(rtp(0, 0, b"\xff" * 160))
        h.deliver(rtp(2, 320, b"\xff" * 160))  # a hole: the jitter timer is armed
        h.deliver(rtp(3, 480, event(4, False, 0), pt=101, marker=True))
        sent = s.send_dtmf("1", 500)
        h.advance(0.1)
        rtcp_port = h.rtcp_port
        rtcp_port.take_written()
        d = s.close("bye")
        self.successResultOf(d)
        self.assertIs(self.successResultOf(drained), False)
        self.assertIs(self.successResultOf(sent), False)
        self.assertEqual(len(rtcp_port.written), 1)  # the BYE
        self.assert_released(h)
        self.assertEqual(h.rec.played[-1][4], True)  # playback reported ended

    def test_idempotent(self) -> None:
        h = Harness()
        port = h.rtcp_port
        first = h.session.close()
        second = h.session.close()
        self.successResultOf(first)
        self.successResultOf(second)
        self.assertEqual(len(port.written), 1)
        self.assertTrue(h.session.closed)

    def test_after_close(self) -> None:
        h = Harness()
        s = h.session
        s.close()
        s.send_audio(tone(300, 0.2))
        self.assertFalse(s.send_audio_now(bytes(320)))
        self.assertIs(self.successResultOf(s.when_drained()), False)
        self.assertFalse(s.interrupt())
        self.assertFalse(s.is_playing)
        self.assertIs(self.successResultOf(s.send_dtmf("1")), False)
        s.set_direction(True, True)
        s.rtp_received(rtp(0, 0, b"\xff"), PEER, 0.0)  # a datagram already in flight
        self.assertEqual(h.rec.audio, [])
        self.assert_released(h)

    def test_two_sessions_share_the_clock(self) -> None:
        reactor = MemoryUDPReactor()
        clock = MediaClock(reactor)
        allocator = RTPPortAllocator(reactor, HOST, 20000, 20100)
        a = Harness(reactor=reactor, clock=clock, allocator=allocator)
        b = Harness(reactor=reactor, clock=clock, allocator=allocator)
        self.assertEqual(len(clock), 2)
        a.session.close()
        self.assertEqual(len(clock), 1)
        self.assertTrue(clock.running)
        b.session.send_audio(tone(300, 0.2))
        b.advance(0.1)
        self.assertEqual(len(b.sent()), 5)
        b.session.close()
        self.assertEqual(reactor.getDelayedCalls(), [])
        self.assertEqual(reactor.udp_ports, {})
        self.assertEqual(allocator.in_quarantine, 2)

    def test_datagram_after_close_goes_nowhere(self) -> None:
        h = Harness()
        proto = h.ports.rtp
        h.session.close()
        proto.datagramReceived(rtp(0, 0, b"\xff"), PEER)
        self.assertEqual((proto.unattached, h.rec.audio), (1, []))


class StatsTests(SynchronousTestCase):
    def test_keys_and_values(self) -> None:
        h = Harness()
        h.deliver(rtp(0, 0, b"\xff" * 160))
        stats = h.stats()
        self.assertLessEqual(STATS_KEYS, set(stats))
        self.assertEqual(
            (stats["codec"], stats["packets_in"], stats["bytes_in"]), ("PCMU", 1, 172)
        )
        self.assertIsNone(stats["rtt_ms"])
        self.assertTrue(1.0 <= stats["mos"] <= 4.5)

    def test_properties(self) -> None:
        h = Harness()
        s = h.session
        self.assertEqual((s.local_rtp_port, s.local_rtcp_port), (20000, 20001))
        self.assertEqual((s.codec, s.payload_type, s.sample_rate), (PCMU, 0, 8000))
        self.assertTrue(s.sending)
        self.assertEqual(s.remote_rtp, PEER)

    def test_ssrc_and_cname(self) -> None:
        reactor = MemoryUDPReactor()
        pair = RTPPortAllocator(reactor, HOST, 20000, 20010).allocate()
        s = MediaSession(
            reactor,
            pair,
            PCMU,
            0,
            media_clock=MediaClock(reactor),
            remote_rtp=PEER,
            ssrc=0x1234,
            cname="test@roomkit",
        )
        port = reactor.udp_port(pair.rtcp_port)
        s.close()
        ((data, _),) = port.written
        packets = parse_rtcp(data)
        self.assertEqual(packets[0].ssrc, 0x1234)
        self.assertEqual(packets[1].cname(0x1234), "test@roomkit")

    def test_default_cnames_differ(self) -> None:
        """RFC 7022: a random CNAME per session, so calls cannot be linked by it."""
        names = set()
        for _ in range(2):
            h = Harness()
            port = h.rtcp_port
            h.session.close()
            ((data, _),) = port.written
            packets = parse_rtcp(data)
            names.add(packets[1].cname(h.session.ssrc))
        self.assertEqual(len(names), 2)
        self.assertTrue(all(len(n) >= 16 for n in names))
